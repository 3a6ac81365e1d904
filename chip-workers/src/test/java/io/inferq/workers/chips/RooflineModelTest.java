package io.inferq.workers.chips;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class RooflineModelTest {
    /** Round figures so every expectation below can be checked by hand. */
    static final ChipProfile ROUND_CHIP = new ChipProfile("round", "Round Chip", "Test", "test",
            ChipFigure.published(100), ChipFigure.published(1.0), ChipFigure.published(100), null,
            ChipFigure.published(200), "", "", true, "test figures");
    static final ModelProfile DENSE_10B = new ModelProfile("dense-10b", "Dense 10B", 10_000_000_000L,
            10_000_000_000L, 10, 1000, WeightPrecision.BF16, 100_000, "GQA");
    static final RooflineAssumptions HALF = new RooflineAssumptions(0.5, 0.5, 0.9, 10e9);

    final RooflineModel twoChips = new RooflineModel(ROUND_CHIP, 2, DENSE_10B, WeightPrecision.BF16, HALF);

    @Test
    void memoryAndKvCapacity() {
        // 10e9 params x 2 B = 20 GB; 100 GB x 2 chips x 0.9 = 180 GB usable; 160 GB / 1000 B = 160e6 tokens
        assertThat(twoChips.weightBytes()).isEqualTo(20e9);
        assertThat(twoChips.usableMemoryBytes()).isCloseTo(180e9, within(1.0));
        assertThat(twoChips.kvCapacityTokens()).isEqualTo(160_000_000L);
    }

    @Test
    void prefillIsComputeBound() {
        // 1000 tokens x 2 x 10e9 = 2e13 FLOPs; 100 TFLOPS x 2 chips x 0.5 = 1e14 FLOP/s -> 0.2 s
        assertThat(twoChips.prefillSeconds(1000)).isCloseTo(0.2, within(1e-12));
        assertThat(twoChips.prefillSeconds(0)).isZero();
    }

    @Test
    void fp8WeightsUseTheFp8FigureAndHalveTheBytes() {
        RooflineModel fp8 = new RooflineModel(ROUND_CHIP, 2, DENSE_10B, WeightPrecision.FP8, HALF);
        // 200 TFLOPS x 2 x 0.5 = 2e14 -> 0.1 s; weights 10 GB
        assertThat(fp8.prefillSeconds(1000)).isCloseTo(0.1, within(1e-12));
        assertThat(fp8.weightBytes()).isEqualTo(10e9);
    }

    @Test
    void decodeStepReadsWeightsAndContextKv() {
        // 1 TB/s x 2 x 0.5 = 1e12 B/s; weights 20e9 -> 0.02 s; plus 1e6 tokens x 1000 B = 1e9 -> 0.021 s
        assertThat(twoChips.decodeStepSeconds(0)).isCloseTo(0.02, within(1e-12));
        assertThat(twoChips.decodeStepSeconds(1_000_000)).isCloseTo(0.021, within(1e-12));
    }

    @Test
    void moeDecodeReadsOnlyActiveWeights() {
        ModelProfile moe = new ModelProfile("moe", "MoE", 100_000_000_000L, 5_000_000_000L, 10, 1000,
                WeightPrecision.BF16, 100_000, "MLA");
        RooflineModel model = new RooflineModel(ROUND_CHIP, 2, moe, WeightPrecision.BF16, HALF);
        assertThat(model.activeWeightBytes()).isEqualTo(10e9);
        assertThat(model.decodeStepSeconds(0)).isCloseTo(0.01, within(1e-12));
        // prefill uses active params: 1000 x 2 x 5e9 / 1e14 = 0.1 s
        assertThat(model.prefillSeconds(1000)).isCloseTo(0.1, within(1e-12));
    }

    @Test
    void kvTransferAtNetworkBandwidth() {
        assertThat(twoChips.kvTransferSeconds(1_000_000_000L)).isCloseTo(0.1, within(1e-12));
        // 1000 tokens x 1000 B = 1e6 B at 10e9 B/s
        assertThat(twoChips.kvTransferSecondsForTokens(1000)).isCloseTo(1e-4, within(1e-15));
    }

    @Test
    void batchTimelinePrefillsUncachedTokensThenDecodesTogether() {
        BatchEstimate estimate = twoChips.estimateBatch(List.of(
                new SequenceShape(200, 100, 3),
                new SequenceShape(100, 0, 1)));
        // uncached 100 + 100 = 200 tokens x 2e10 / 1e14 = 0.04 s, plus fetching the 100 cached tokens' KV:
        // 100 x 1000 B at 10e9 B/s = 1e-5 s
        double prefill = 0.04 + 1e-5;
        assertThat(estimate.prefillSeconds()).isCloseTo(prefill, within(1e-12));
        assertThat(estimate.decodeSteps()).isEqualTo(2);
        // the 1-token sequence is done with prefill
        assertThat(estimate.finishSeconds().get(1)).isCloseTo(prefill, within(1e-12));
        // step 1: context 200 + 1 -> (20e9 + 201e3) / 1e12; step 2: context 202
        double expected = prefill + (20e9 + 201_000) / 1e12 + (20e9 + 202_000) / 1e12;
        assertThat(estimate.finishSeconds().get(0)).isCloseTo(expected, within(1e-12));
        assertThat(estimate.totalSeconds()).isCloseTo(expected, within(1e-12));
    }

    @Test
    void batchingSharesTheWeightRead() {
        SequenceShape one = new SequenceShape(100, 0, 11);
        double alone = twoChips.estimateBatch(List.of(one)).totalSeconds();
        double four = twoChips.estimateBatch(List.of(one, one, one, one)).totalSeconds();
        // prefill scales 4x (0.02 -> 0.08 s) but the 10 decode steps (~0.2 s) barely grow
        assertThat(four).isLessThan(2 * alone);
    }

    @Test
    void weightsThatDoNotFitLeaveNoKvCapacity() {
        RooflineModel tiny = new RooflineModel(ROUND_CHIP, 1, new ModelProfile("big", "Big", 60_000_000_000L,
                60_000_000_000L, 10, 1000, WeightPrecision.BF16, 1000, ""), WeightPrecision.BF16, HALF);
        assertThat(tiny.kvBudgetBytes()).isNegative();
        assertThat(tiny.kvCapacityTokens()).isZero();
    }

    @Test
    void refusesFp8OnAChipWithoutFp8() {
        ChipProfile a800 = ChipCatalogue.builtIn().get("a800");
        assertThatThrownBy(() -> new RooflineModel(a800, 1, DENSE_10B, WeightPrecision.FP8, HALF))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("has no FP8");
    }

    @Test
    void deepSeekR1OnH800WithBuiltInFigures() {
        RooflineModel r1 = RooflineModel.of(ChipCatalogue.builtIn().get("h800"), 16,
                ModelCatalogue.builtIn().get("deepseek-r1"));
        assertThat(r1.precision()).isEqualTo(WeightPrecision.FP8);
        // 80e9 x 16 x 0.9 = 1152e9 usable; minus 671e9 = 481e9; / 70,272 B = 6,844,831 tokens
        assertThat(r1.kvCapacityTokens()).isEqualTo(6_844_831L);
        // decode step, empty context: 37e9 B / (3.35e12 x 16 x 0.6) = 1.1505 ms
        assertThat(r1.decodeStepSeconds(0)).isCloseTo(37e9 / (3.35e12 * 16 * 0.6), within(1e-15));
        // prefill 1000 tokens: 2 x 37e9 x 1000 / (1979e12 x 16 x 0.4) = 5.842 ms
        assertThat(r1.prefillSeconds(1000)).isCloseTo(7.4e13 / (1979e12 * 16 * 0.4), within(1e-15));
    }

    @Test
    void fp8CheckpointIsServedInBf16OnAscend() {
        RooflineModel r1 = RooflineModel.of(ChipCatalogue.builtIn().get("ascend-910b"), 32,
                ModelCatalogue.builtIn().get("deepseek-r1"));
        assertThat(r1.precision()).isEqualTo(WeightPrecision.BF16);
        assertThat(r1.weightBytes()).isEqualTo(1342e9);
        assertThat(r1.unpublishedFigures()).anySatisfy(line -> assertThat(line).contains("bandwidth 1.6 TB/s (unconfirmed"));
    }

    @Test
    void rejectsNegativeInputs() {
        assertThatThrownBy(() -> twoChips.prefillSeconds(-1)).hasMessageContaining("uncachedTokens");
        assertThatThrownBy(() -> twoChips.decodeStepSeconds(-1)).hasMessageContaining("contextTokens");
        assertThatThrownBy(() -> twoChips.estimateBatch(List.of())).hasMessageContaining("at least one");
    }
}
