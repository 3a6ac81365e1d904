package io.inferq.dispatcher;

import java.util.Objects;

/**
 * What the dispatcher knows about one chip pool: the model it serves, its size, its per-batch limits
 * and a time model for estimating how long a batch takes there.
 *
 * @param poolId                 pool id (also names the topic {@code inferq.pool.<poolId>})
 * @param chip                   chip kind, for metrics and reports
 * @param model                  model served by every instance of the pool
 * @param instances              number of instances, &ge; 1
 * @param maxBatchTokens         prompt-token budget of one batch, &ge; 1
 * @param maxConcurrentSequences sequence cap of one batch, &ge; 1
 * @param timeModel              service-time estimate for one instance of this pool
 */
public record PoolProfile(String poolId, String chip, String model, int instances, int maxBatchTokens,
                          int maxConcurrentSequences, ServiceTimeModel timeModel) {

    public PoolProfile {
        Objects.requireNonNull(poolId, "poolId must not be null");
        Objects.requireNonNull(chip, "chip must not be null");
        Objects.requireNonNull(model, "model must not be null");
        Objects.requireNonNull(timeModel, "timeModel must not be null");
        if (instances < 1) {
            throw new IllegalArgumentException("pool " + poolId + ": instances must be at least 1, was " + instances);
        }
        if (maxBatchTokens < 1) {
            throw new IllegalArgumentException(
                    "pool " + poolId + ": maxBatchTokens must be at least 1, was " + maxBatchTokens);
        }
        if (maxConcurrentSequences < 1) {
            throw new IllegalArgumentException("pool " + poolId
                    + ": maxConcurrentSequences must be at least 1, was " + maxConcurrentSequences);
        }
    }
}
