package io.inferq.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class KvGeometryTest {

    @Test
    void knownModels() {
        assertThat(KvGeometry.DEEPSEEK_V3_BF16.bytesPerToken()).isEqualTo(70_272);
        assertThat(KvGeometry.DEEPSEEK_V3_FP8.bytesPerToken()).isEqualTo(35_136);
        assertThat(KvGeometry.DEEPSEEK_V2_LITE_BF16.bytesPerToken()).isEqualTo(31_104);
        assertThat(KvGeometry.DENSE_7B_GQA_BF16.bytesPerToken()).isEqualTo(57_344);
        assertThat(KvGeometry.mla("v3", 61, 512, 64, 2)).isEqualTo(new KvGeometry("v3", 61, 576, 2));
        assertThat(KvGeometry.gqa("7b", 28, 4, 128, 2).bytesPerToken()).isEqualTo(57_344);
        assertThat(KvGeometry.DEEPSEEK_V3_BF16.bytesPerBlock(64)).isEqualTo(64 * 70_272);
    }

    @Test
    void validates() {
        assertThatThrownBy(() -> new KvGeometry("x", 0, 576, 2)).hasMessageContaining("layers must be positive");
        assertThatThrownBy(() -> KvGeometry.DEEPSEEK_V3_BF16.bytesPerBlock(0)).hasMessageContaining("blockSize");
    }

    @Test
    void formatFingerprintSeparatesEveryField() {
        KvFormat f = new KvFormat("nvidia-hopper", "bf16", "flashmla-paged", 64, "deepseek-v3");
        assertThat(f.fingerprint()).isEqualTo(new KvFormat("nvidia-hopper", "bf16", "flashmla-paged", 64, "deepseek-v3").fingerprint());
        assertThat(new KvFormat("ascend-910b", "bf16", "flashmla-paged", 64, "deepseek-v3").fingerprint()).isNotEqualTo(f.fingerprint());
        assertThat(new KvFormat("nvidia-hopper", "fp8", "flashmla-paged", 64, "deepseek-v3").fingerprint()).isNotEqualTo(f.fingerprint());
        assertThat(new KvFormat("nvidia-hopper", "bf16", "other", 64, "deepseek-v3").fingerprint()).isNotEqualTo(f.fingerprint());
        assertThat(new KvFormat("nvidia-hopper", "bf16", "flashmla-paged", 32, "deepseek-v3").fingerprint()).isNotEqualTo(f.fingerprint());
        assertThat(new KvFormat("nvidia-hopper", "bf16", "flashmla-paged", 64, "deepseek-r1").fingerprint()).isNotEqualTo(f.fingerprint());
        assertThatThrownBy(() -> new KvFormat("", "bf16", "l", 64, "m")).hasMessageContaining("chipFamily must not be blank");
    }
}
