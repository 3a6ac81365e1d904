package io.inferq.workers.runtime;

import io.inferq.broker.topics.TopicCatalogue;

/**
 * How one process runs one pool.
 *
 * @param poolId          pool id (names the topic {@code inferq.pool.<id>})
 * @param chip            chip kind, reported on results
 * @param processId       stable id of this process; part of each slot's transactional id, so a
 *                        restarted process fences its previous incarnation's transactions
 * @param slots           concurrent batches: one per stream of each pool instance this process drives (instances ×
 *                        the dispatcher's batch credits per instance), each a consumer of its own partition, so every
 *                        batch in flight on an instance runs at once, side by side in the instance's engine; at least 1
 * @param maxAttempts     how often a job is handed back after retriable failures before it fails
 * @param leaseMs         how long a slot may go without polling Kafka, outside its engine call, before Kafka considers
 *                        it stuck and gives its batch to another slot ({@code max.poll.interval.ms}); the engine call
 *                        itself keeps the lease (the slot polls, paused, while it runs), however long a generation is
 * @param sessionTimeoutMs how fast a crashed process's batches are handed to another ({@code session.timeout.ms})
 */
public record PoolWorkerSettings(String poolId, String chip, String processId, int slots, int maxAttempts,
        long leaseMs, long sessionTimeoutMs) {
    public PoolWorkerSettings {
        TopicCatalogue.requireValidPoolId(poolId);
        if (slots < 1) {
            throw new IllegalArgumentException("pool " + poolId + ": slots must be at least 1, was " + slots);
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

    public static PoolWorkerSettings defaults(String poolId, String chip, String processId, int slots) {
        return new PoolWorkerSettings(poolId, chip, processId, slots, 3, 300_000, 10_000);
    }
}
