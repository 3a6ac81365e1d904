package io.inferq.dispatcher;

import java.util.List;
import java.util.Objects;

/**
 * One candidate pool for a candidate batch, as the scheduler sees it at decision time. Every pool that
 * serves the batch's model and whose per-batch token budget fits the oldest job is offered, including
 * pools without free credits, so a policy may choose to <em>hold</em> the batch for a busy but faster pool.
 *
 * @param pool                 the pool
 * @param jobs                 the jobs that would go if this pool is chosen now: the bucket's queue in order,
 *                             within the pool's per-batch limits (with prefix-affinity batch forming: the head
 *                             job, then the jobs whose prefixes this pool caches, see {@link DispatchScheduler});
 *                             empty when the pool has no free credit
 * @param freeBatchCredits     batches the pool can still accept now
 * @param totalBatchCredits    batches the pool accepts when idle
 * @param inFlightBatches      batches sent and not yet finished
 * @param inFlightSequences    sequences sent and not yet finished
 * @param aheadSeconds         estimated time until a batch sent now would start (work queued on the pool's
 *                             least-backlogged instance)
 * @param serviceSeconds       estimated service time of the <em>comparison batch</em> on this pool, net of
 *                             cached prefix tokens: a batch within the smallest limits among the options, the
 *                             same jobs for every option in queue order, or, with prefix-affinity batch forming,
 *                             the jobs this pool would take first
 * @param cachedPromptTokens   prompt tokens of the comparison batch that the pool holds in its KV cache,
 *                             as reported by the {@link PrefixLocator} (before weighting)
 */
record RouteOption(PoolProfile pool, List<QueuedJob> jobs, int freeBatchCredits, int totalBatchCredits,
                          int inFlightBatches, int inFlightSequences, double aheadSeconds, double serviceSeconds,
                          long cachedPromptTokens) {

    public RouteOption {
        Objects.requireNonNull(pool, "pool must not be null");
        jobs = List.copyOf(jobs);
    }

    /** Whether choosing this option dispatches now (otherwise it means: hold the batch). */
    public boolean hasCredit() {
        return !jobs.isEmpty();
    }

    /** Estimated completion time, from now, of the comparison batch if sent to this pool. */
    public double estimatedCompletionSeconds() {
        return aheadSeconds + serviceSeconds;
    }

    /** Fraction of the pool's batch credits in use, 0..1. */
    public double load() {
        return totalBatchCredits == 0 ? 1.0 : (double) inFlightBatches / totalBatchCredits;
    }

    public String poolId() {
        return pool.poolId();
    }
}
