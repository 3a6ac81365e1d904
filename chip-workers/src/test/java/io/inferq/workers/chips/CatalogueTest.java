package io.inferq.workers.chips;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CatalogueTest {
    final ChipCatalogue chips = ChipCatalogue.builtIn();
    final ModelCatalogue models = ModelCatalogue.builtIn();

    @Test
    void shipsEveryChipOfTheFigureSheet() {
        assertThat(chips.all()).extracting(ChipProfile::id).containsExactly("h800", "h20", "a800", "mi300x",
                "ascend-910b", "ascend-910c", "metax-c500", "mtt-s4000", "hygon-k100-ai", "br100", "br104",
                "enflame-t20", "enflame-s60", "iluvatar-bi-v150");
    }

    @Test
    void carriesFiguresAndTheirStatus() {
        ChipProfile h800 = chips.get("h800");
        assertThat(h800.memoryGb().value()).isEqualTo(80);
        assertThat(h800.bandwidthTbps().value()).isEqualTo(3.35);
        assertThat(h800.bf16Tflops().value()).isEqualTo(989);
        assertThat(h800.fp8Tflops().value()).isEqualTo(1979);
        assertThat(h800.unpublishedFigures()).isEmpty();

        ChipProfile ascend = chips.get("ascend-910b");
        assertThat(ascend.hasFp8()).isFalse();
        assertThat(ascend.bandwidthTbps().status()).isEqualTo(FigureStatus.UNCONFIRMED);
        assertThat(ascend.bf16Tflops().status()).isEqualTo(FigureStatus.ESTIMATED);
        assertThat(ascend.family()).isEqualTo("huawei-ascend");

        assertThat(chips.get("a800").int8Tops().value()).isEqualTo(624);
        assertThat(chips.get("a800").hasFp8()).isFalse();
        assertThat(chips.get("mi300x").memoryGb().value()).isEqualTo(192);
    }

    @Test
    void undisclosedFiguresAreFlaggedAssumedWithTheirDerivation() {
        ChipProfile s60 = chips.get("enflame-s60");
        assertThat(s60.bandwidthTbps().status()).isEqualTo(FigureStatus.ASSUMED);
        assertThat(s60.bandwidthTbps().note()).isNotBlank();
        ChipProfile biV150 = chips.get("iluvatar-bi-v150");
        assertThat(biV150.bandwidthTbps().status()).isEqualTo(FigureStatus.ASSUMED);
        assertThat(biV150.bf16Tflops().note()).contains("BI-V100");
        assertThat(biV150.unpublishedFigures()).hasSize(3);
    }

    @Test
    void unknownChipListsTheKnownOnes() {
        assertThatThrownBy(() -> chips.get("h100"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("unknown chip 'h100'; known chips: h800, h20, a800, mi300x, ascend-910b");
    }

    @Test
    void shipsTheModels() {
        ModelProfile r1 = models.get("deepseek-r1");
        assertThat(r1.totalParams()).isEqualTo(671_000_000_000L);
        assertThat(r1.activeParams()).isEqualTo(37_000_000_000L);
        assertThat(r1.layers()).isEqualTo(61);
        assertThat(r1.kvBytesPerToken()).isEqualTo(576L * 61 * 2);
        assertThat(r1.weightPrecision()).isEqualTo(WeightPrecision.FP8);
        assertThat(r1.isMixtureOfExperts()).isTrue();
        assertThat(models.get("deepseek-v3").kvBytesPerToken()).isEqualTo(70_272);
        assertThat(models.get("deepseek-v2-lite").kvBytesPerToken()).isEqualTo(576L * 27 * 2);
        ModelProfile dense = models.get("qwen2-7b");
        assertThat(dense.kvBytesPerToken()).isEqualTo(2L * 28 * 4 * 128 * 2);
        assertThat(dense.isMixtureOfExperts()).isFalse();
        assertThatThrownBy(() -> models.get("gpt-4")).hasMessageContaining("known models: deepseek-r1");
    }

    @Test
    void invalidEntryIsReportedWithItsPosition() {
        String json = "{\"chips\":[{\"id\":\"x\",\"name\":\"X\",\"vendor\":\"V\",\"family\":\"f\","
                + "\"memoryGb\":{\"value\":-1,\"status\":\"published\"},"
                + "\"bandwidthTbps\":{\"value\":1,\"status\":\"published\"},"
                + "\"bf16Tflops\":{\"value\":1,\"status\":\"published\"}}]}";
        assertThatThrownBy(() -> ChipCatalogue.read(
                new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "test.json"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("test.json: chips[0]")
                .hasMessageContaining("figure value must be positive");
    }
}
