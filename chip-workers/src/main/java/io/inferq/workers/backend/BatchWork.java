package io.inferq.workers.backend;

import java.util.List;

/**
 * One batch handed to a backend.
 *
 * @param batchId   the dispatcher's batch id
 * @param poolId    the pool that runs it
 * @param instance  index of the pool instance (0-based) running it
 * @param sequences the jobs of the batch, all of one length bucket
 */
public record BatchWork(String batchId, String poolId, int instance, List<SequenceWork> sequences) {
    public BatchWork {
        sequences = List.copyOf(sequences);
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("batch " + batchId + " has no sequences");
        }
    }
}
