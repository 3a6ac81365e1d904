package io.inferq.workers.pool;

/**
 * What one instance of a pool accepts per batch.
 *
 * @param maxBatchTokens         most prompt + completion tokens in one batch, at least 1
 * @param maxConcurrentSequences most sequences in one batch (and in flight on one instance), at least 1
 */
public record PoolLimits(int maxBatchTokens, int maxConcurrentSequences) {
    public PoolLimits {
        if (maxBatchTokens < 1) {
            throw new IllegalArgumentException("maxBatchTokens must be at least 1, was " + maxBatchTokens);
        }
        if (maxConcurrentSequences < 1) {
            throw new IllegalArgumentException("maxConcurrentSequences must be at least 1, was "
                    + maxConcurrentSequences);
        }
    }
}
