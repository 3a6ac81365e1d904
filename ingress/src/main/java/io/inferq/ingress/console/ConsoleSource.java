package io.inferq.ingress.console;

import io.vertx.core.Future;
import java.util.List;
import java.util.Map;

/**
 * What the operator console needs from the other roles of this process, wired in {@code server} (the ingress module
 * never imports the dispatcher or the workers). Everything the console reads through here is cheap: static pool
 * descriptors and one bounded read of the dispatcher's queues.
 */
public interface ConsoleSource {

    /** @return the configured pools, in configuration order (static) */
    List<PoolDescriptor> pools();

    /**
     * The dispatcher's queues now. Any thread; the future may complete on another thread.
     *
     * @return the snapshot, or a failed future when no dispatcher runs in this process
     */
    Future<QueueSnapshot> queues();

    /**
     * A pool as configured.
     *
     * @param creditsPerInstance batches the dispatcher keeps in flight per instance at most
     */
    record PoolDescriptor(String id, String chip, String chipName, String model, int instances, int chipsPerInstance,
            String backend, int maxBatchTokens, int maxConcurrentSequences, int creditsPerInstance) {
    }

    /** One (lane, model, length bucket) queue of the dispatcher. */
    record QueueGroup(String lane, String model, int bucketUpperTokens, int jobs, long promptTokens, long oldestEnqueuedAtMs) {
    }

    /**
     * The dispatcher's queues.
     *
     * @param maxQueuedJobs        its bound
     * @param tenantQueuedTokens   queued tokens (prompt + max output) per tenant with any queued
     * @param tenantQuotaTokens    each of those tenants' quota of queued tokens
     */
    record QueueSnapshot(long atMs, int maxQueuedJobs, List<QueueGroup> groups, Map<String, Long> tenantQueuedTokens,
            Map<String, Long> tenantQuotaTokens) {
    }

    /** No pools, no dispatcher (an ingress-only process). */
    ConsoleSource NONE = new ConsoleSource() {
        @Override
        public List<PoolDescriptor> pools() {
            return List.of();
        }

        @Override
        public Future<QueueSnapshot> queues() {
            return Future.failedFuture(new IllegalStateException("no dispatcher runs in this process"));
        }
    };
}
