package io.inferq.kvcache.index;

import java.util.Objects;

/**
 * A worker that holds blocks in its local tier, and the chip pool it belongs to. Immutable.
 *
 * @param workerId unique across the fleet; non-blank, no NUL
 * @param poolId   the worker's pool; non-blank, no NUL
 */
public record BlockHolder(String workerId, String poolId) {

    public BlockHolder {
        check(workerId, "workerId");
        check(poolId, "poolId");
    }

    private static void check(String v, String field) {
        Objects.requireNonNull(v, field + " must not be null");
        if (v.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (v.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(field + " must not contain NUL characters");
        }
    }

    /** Compact wire form {@code poolId\0workerId}, used as the element of the distributed holder set. */
    String encode() {
        return poolId + '\0' + workerId;
    }

    static BlockHolder decode(String encoded) {
        int sep = encoded.indexOf('\0');
        return new BlockHolder(encoded.substring(sep + 1), encoded.substring(0, sep));
    }
}
