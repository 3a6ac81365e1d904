package io.inferq.workers.runtime;

import io.inferq.broker.topics.TopicCatalogue;

/**
 * How one process runs one pool.
 *
 * @param poolId          pool id (names the topic {@code inferq.pool.<id>})
 * @param chip            chip kind, reported on results
 * @param processId       stable id of this process; part of each slot's transactional id, so a
 *                        restarted process fences its previous incarnation's transactions
 * @param slots           consumers of the pool's topic: one per stream of each pool instance this process drives
 *                        (instances × the dispatcher's batch credits per instance), each reading its own partition, so
 *                        every batch in flight on an instance runs at once, side by side in the instance's engine; at
 *                        least 1
 * @param batchesPerSlot  batches one slot keeps in flight at once (its engine threads at most; the records it polls at a
 *                        time): with more than one, a batch sent to a stream whose slot is busy (the dispatcher's fair
 *                        credits) starts at once beside the running one instead of waiting behind it; 1 to
 *                        {@value #MAX_BATCHES_PER_SLOT}
 * @param maxAttempts     how often a job is handed back after retriable failures before it fails
 * @param leaseMs         how long a slot thread may go without polling Kafka before Kafka considers it stuck and gives
 *                        its batches to another slot ({@code max.poll.interval.ms}); engine calls run on threads of
 *                        their own while the slot thread keeps polling, so a generation keeps the lease however long
 *                        it is
 * @param sessionTimeoutMs how fast a crashed process's batches are handed to another ({@code session.timeout.ms})
 */
public record PoolWorkerSettings(String poolId, String chip, String processId, int slots, int batchesPerSlot, int maxAttempts,
        long leaseMs, long sessionTimeoutMs) {
    /** The most batches one slot may keep in flight (each takes an engine thread). */
    public static final int MAX_BATCHES_PER_SLOT = 1024;

    public PoolWorkerSettings {
        TopicCatalogue.requireValidPoolId(poolId);
        if (slots < 1) {
            throw new IllegalArgumentException("pool " + poolId + ": slots must be at least 1, was " + slots);
        }
        if (batchesPerSlot < 1 || batchesPerSlot > MAX_BATCHES_PER_SLOT) {
            throw new IllegalArgumentException("pool " + poolId + ": batches per slot must be between 1 and "
                    + MAX_BATCHES_PER_SLOT + ", was " + batchesPerSlot);
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("pool " + poolId + ": max attempts must be at least 1, was " + maxAttempts);
        }
        if (leaseMs < 10_000) {
            throw new IllegalArgumentException("pool " + poolId + ": lease must be at least 10000 ms, was " + leaseMs);
        }
        if (sessionTimeoutMs < 6_000 || sessionTimeoutMs > leaseMs) {
            throw new IllegalArgumentException("pool " + poolId + ": session timeout must be between 6000 ms and the lease, was "
                    + sessionTimeoutMs);
        }
    }

    /** {@code slots} slots of one batch each, 3 attempts, a 300 s lease, a 10 s session timeout. */
    public static PoolWorkerSettings defaults(String poolId, String chip, String processId, int slots) {
        return new PoolWorkerSettings(poolId, chip, processId, slots, 1, 3, 300_000, 10_000);
    }
}
