package io.inferq.dispatcher;

import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.inferq.job.JobLane;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the {@link DispatchScheduler} keeps per model: the pools serving it and their smallest and largest limits,
 * queued work per lane, the fairness domains, workload means and the headroom bookkeeping. Not thread-safe: confined
 * to the scheduler's thread.
 */
final class ModelState {
    final String model;
    final List<PoolLedger> pools = new ArrayList<>();
    int minBatchTokens = Integer.MAX_VALUE;
    int minSequences = Integer.MAX_VALUE;
    int maxBatchTokens;
    /** Instances of all pools serving the model. */
    int instances;
    final long[] queuedWork = new long[JobLane.values().length];
    /** One virtual token counter per lane: the fairness domains of this model. */
    final VirtualTokenCounter[] fair = new VirtualTokenCounter[JobLane.values().length];
    double meanPrompt = 1024;
    double meanOutput;
    long seenJobs;
    /** Headroom: when interactive work for this model was last seen (enqueued, or queued at a decision). */
    long interactiveSeenMs = Long.MIN_VALUE;
    /** Headroom: when each tenant was last seen (enqueued or dispatched) for this model. */
    final Map<String, Long> tenantSeenMs = new HashMap<>();
    /** Headroom: batch credits of this model's pools held per tenant (each batch counts for its main tenant). */
    final Map<String, Integer> tenantInFlight = new HashMap<>();
    /** Headroom: when a batch-lane batch of each length bucket was last dispatched. */
    final Map<Integer, Long> batchDispatchedMs = new HashMap<>();
    /** Headroom: whether the last decision kept this model's pools' reserve (for the gauge). */
    boolean headroomInForce;

    ModelState(String model) {
        this.model = model;
    }
}
