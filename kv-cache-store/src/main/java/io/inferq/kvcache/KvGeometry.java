package io.inferq.kvcache;

import java.util.Objects;

/**
 * Size of the KV cache a model keeps per token: {@code layers × valuesPerTokenPerLayer × bytesPerValue}.
 *
 * <p>For MLA (DeepSeek-V2/V3/R1) a token caches one compressed latent (512 values) plus the decoupled
 * RoPE key (64 values) per layer, i.e. 576 values; for a dense GQA model it caches K and V for every KV
 * head: {@code 2 × kvHeads × headDim}. Immutable and thread-safe.
 *
 * @param name                   a label for logs and metrics
 * @param layers                 transformer layers that keep a KV cache (&gt; 0)
 * @param valuesPerTokenPerLayer cached values per token per layer (&gt; 0)
 * @param bytesPerValue          bytes per cached value: 2 for BF16/FP16, 1 for FP8 (&gt; 0)
 */
public record KvGeometry(String name, int layers, int valuesPerTokenPerLayer, int bytesPerValue) {

    /** DeepSeek-V3/R1 MLA in BF16: 61 × (512 + 64) × 2 B = 70,272 B per token. */
    public static final KvGeometry DEEPSEEK_V3_BF16 = new KvGeometry("deepseek-v3-mla-bf16", 61, 576, 2);
    /** DeepSeek-V3/R1 MLA in FP8: 61 × 576 × 1 B = 35,136 B per token. */
    public static final KvGeometry DEEPSEEK_V3_FP8 = new KvGeometry("deepseek-v3-mla-fp8", 61, 576, 1);
    /** DeepSeek-V2-Lite MLA in BF16: 27 × 576 × 2 B = 31,104 B per token. */
    public static final KvGeometry DEEPSEEK_V2_LITE_BF16 = new KvGeometry("deepseek-v2-lite-mla-bf16", 27, 576, 2);
    /** A dense 7B model with GQA (28 layers, 4 KV heads of 128) in BF16: 28 × 2 × 4 × 128 × 2 B = 57,344 B per token. */
    public static final KvGeometry DENSE_7B_GQA_BF16 = new KvGeometry("dense-7b-gqa-bf16", 28, 2 * 4 * 128, 2);

    public KvGeometry {
        Objects.requireNonNull(name, "name must not be null");
        if (layers <= 0) {
            throw new IllegalArgumentException("layers must be positive, was " + layers);
        }
        if (valuesPerTokenPerLayer <= 0) {
            throw new IllegalArgumentException("valuesPerTokenPerLayer must be positive, was " + valuesPerTokenPerLayer);
        }
        if (bytesPerValue <= 0) {
            throw new IllegalArgumentException("bytesPerValue must be positive, was " + bytesPerValue);
        }
    }

    /** MLA geometry: {@code kvLoraRank} latent values plus {@code ropeHeadDim} RoPE values per layer. */
    public static KvGeometry mla(String name, int layers, int kvLoraRank, int ropeHeadDim, int bytesPerValue) {
        return new KvGeometry(name, layers, kvLoraRank + ropeHeadDim, bytesPerValue);
    }

    /** Dense (MHA/GQA) geometry: K and V for each KV head. */
    public static KvGeometry gqa(String name, int layers, int kvHeads, int headDim, int bytesPerValue) {
        return new KvGeometry(name, layers, 2 * kvHeads * headDim, bytesPerValue);
    }

    /** Bytes of KV cache one token occupies across all layers. */
    public long bytesPerToken() {
        return (long) layers * valuesPerTokenPerLayer * bytesPerValue;
    }

    /**
     * Bytes of one full block of {@code blockSize} tokens.
     *
     * @throws IllegalArgumentException if {@code blockSize <= 0} or the block would exceed 2 GiB
     */
    public int bytesPerBlock(int blockSize) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, was " + blockSize);
        }
        return Math.toIntExact(bytesPerToken() * blockSize);
    }
}
