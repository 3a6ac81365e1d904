package io.inferq.kvcache;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import net.openhft.hashing.LongHashFunction;

/**
 * The KV-format fingerprint that is part of every block-store key: bytes made for one chip family,
 * dtype, layout, block size or model are never served for another. The routing hash of a block (see
 * {@code io.inferq.kvcache.hashing.BlockHasher}) does not include the format, so the prefix index sees
 * the same prefix on every chip family while the store keeps their bytes apart.
 *
 * <p>Immutable and thread-safe. Fields must not contain {@code '\0'} (used as the separator of the
 * fingerprint's canonical string).
 *
 * @param chipFamily e.g. {@code nvidia-hopper}, {@code ascend-910b}
 * @param dtype      KV dtype, e.g. {@code bf16}, {@code fp8-e4m3}
 * @param layout     memory layout of a block, e.g. {@code flashmla-paged}
 * @param blockSize  tokens per block (&gt; 0)
 * @param model      model id, e.g. {@code deepseek-v3}
 */
public record KvFormat(String chipFamily, String dtype, String layout, int blockSize, String model) {

    private static final LongHashFunction FINGERPRINT_HASH = LongHashFunction.xx3(0L);

    public KvFormat {
        requireText(chipFamily, "chipFamily");
        requireText(dtype, "dtype");
        requireText(layout, "layout");
        requireText(model, "model");
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, was " + blockSize);
        }
    }

    /**
     * A stable 64-bit fingerprint: {@code XXH3_64(UTF-8("kvformat/v1\0chip\0dtype\0layout\0blockSize\0model"), seed 0)}.
     * Stable across JVMs and releases (changing it invalidates every stored block).
     */
    public long fingerprint() {
        String canonical = "kvformat/v1\0" + chipFamily + '\0' + dtype + '\0' + layout + '\0' + blockSize + '\0' + model;
        return FINGERPRINT_HASH.hashBytes(canonical.getBytes(StandardCharsets.UTF_8));
    }

    private static void requireText(String value, String field) {
        Objects.requireNonNull(value, field + " must not be null");
        if (value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(field + " must not contain NUL characters");
        }
    }
}
