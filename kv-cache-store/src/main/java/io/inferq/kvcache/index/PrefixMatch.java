package io.inferq.kvcache.index;

import java.util.Objects;

/**
 * How much of a request's prefix one worker holds.
 *
 * @param holder        the worker and its pool
 * @param leadingBlocks number of leading blocks (from block 0, without a gap) the worker holds; &gt; 0
 */
public record PrefixMatch(BlockHolder holder, int leadingBlocks) {

    public PrefixMatch {
        Objects.requireNonNull(holder, "holder must not be null");
        if (leadingBlocks <= 0) {
            throw new IllegalArgumentException("leadingBlocks must be positive, was " + leadingBlocks);
        }
    }
}
