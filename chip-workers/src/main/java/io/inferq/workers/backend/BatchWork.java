package io.inferq.workers.backend;

import java.util.List;

/**
 * One batch handed to a backend.
 *
 * @param batchId   the dispatcher's batch id
 * @param poolId    the pool that runs it
 * @param instance  index of the pool instance (0-based) running it
 * @param sequences the jobs of the batch, all of one length bucket
 * @param priority  the priority of its sequences in the instance's engine, smaller first (0 interactive work of a tenant
 *                  below its share, {@value #NORMAL_PRIORITY} other interactive work, 2 batch-lane work, preempted first;
 *                  vLLM's {@code priority})
 */
public record BatchWork(String batchId, String poolId, int instance, List<SequenceWork> sequences, int priority) {
    /** The priority of interactive work when the dispatcher sets none. */
    public static final int NORMAL_PRIORITY = 1;

    /** A batch at {@link #NORMAL_PRIORITY}. */
    public BatchWork(String batchId, String poolId, int instance, List<SequenceWork> sequences) {
        this(batchId, poolId, instance, sequences, NORMAL_PRIORITY);
    }

    public BatchWork {
        sequences = List.copyOf(sequences);
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("batch " + batchId + " has no sequences");
        }
        if (priority < 0) {
            throw new IllegalArgumentException("batch " + batchId + ": priority must not be negative, was " + priority);
        }
    }
}
