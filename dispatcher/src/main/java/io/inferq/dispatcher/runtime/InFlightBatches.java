package io.inferq.dispatcher.runtime;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The batches the dispatcher has sent whose pool credit is still out, and for each the jobs that have not
 * left it yet. A batch's credit comes back when its last job leaves:
 * <ul>
 *   <li>its worker reports the job (a terminal event or a hand-back, carrying the batch's id);</li>
 *   <li>the job reaches a terminal state anywhere else (a cancel, an expiry, another copy of the job): its
 *       worker will skip it and write nothing, so waiting for that batch's report would hold the credit forever;</li>
 *   <li>an audit finds the job's terminal claim owned by someone other than the batch (the job finished before a
 *       dispatcher restart and was dispatched again, or its terminal event was missed): the worker skips it too.</li>
 * </ul>
 * Each job leaves a batch at most once, so re-reading an event changes nothing.
 *
 * <p>Not thread-safe: confined to the dispatcher's context. Bounded by the pools' credits times the batch size.
 */
final class InFlightBatches {

    /**
     * A batch whose last job left: its credit goes back to {@code poolId}. {@code prefilledAtMs}: the latest first-token
     * time its jobs reported (epoch ms), {@link Long#MIN_VALUE} unless every job reported one.
     */
    record Finished(String poolId, String batchId, boolean ranAsEstimated, long prefilledAtMs) {
        Finished(String poolId, String batchId) {
            this(poolId, batchId, false, Long.MIN_VALUE);
        }
    }

    private static final class Batch {
        final String poolId;
        /** The instance the batch was planned for, and which of that instance's streams carries it (-1: none). */
        final int instance;
        final int stream;
        final long sentAtMs;
        final Set<String> outstanding;
        /** Every job that left so far ran on the pool (succeeded): the batch's time says how fast the pool is. */
        boolean ran = true;
        /** The latest first token of the jobs that left so far; MIN_VALUE once one left without one. */
        long prefilledAtMs;

        Batch(String poolId, int instance, int stream, long sentAtMs, Set<String> outstanding) {
            this.poolId = poolId;
            this.instance = instance;
            this.stream = stream;
            this.sentAtMs = sentAtMs;
            this.outstanding = outstanding;
        }
    }

    private final Map<String, Batch> batches = new LinkedHashMap<>();
    /** Job id → the in-flight batches holding it (nearly always one; two after a job was dispatched again). */
    private final Map<String, List<String>> batchesOfJob = new HashMap<>();

    /** Records a batch as sent at {@code nowMs} with these jobs, on no particular stream. */
    void sent(String batchId, String poolId, List<String> jobIds, long nowMs) {
        sent(batchId, poolId, -1, -1, jobIds, nowMs);
    }

    /** Records a batch as sent at {@code nowMs} with these jobs, carried by {@code stream} of {@code instance}. */
    void sent(String batchId, String poolId, int instance, int stream, List<String> jobIds, long nowMs) {
        batches.put(batchId, new Batch(poolId, instance, stream, nowMs, new LinkedHashSet<>(jobIds)));
        for (String id : jobIds) {
            batchesOfJob.computeIfAbsent(id, k -> new ArrayList<>(1)).add(batchId);
        }
    }

    /** Forgets a batch that was never written (its jobs go back to the queue); its credit is returned by the caller. */
    void forget(String batchId) {
        Batch b = batches.remove(batchId);
        if (b != null) {
            b.outstanding.forEach(id -> unlink(id, batchId));
        }
    }

    /**
     * The job left {@code batchId}: its worker reported it (terminal or handed back), or it was found claimed elsewhere.
     *
     * @return the batch, if the job was its last one
     */
    Finished left(String jobId, String batchId) {
        return leave(jobId, batchId, false, Long.MIN_VALUE);
    }

    /**
     * The job reached a terminal state: it leaves every batch holding it.
     *
     * @return the batches it was the last job of
     */
    List<Finished> terminal(String jobId) {
        return terminal(jobId, false);
    }

    /**
     * As {@link #terminal(String)}; {@code ran}: the job succeeded on its batch's pool (a batch whose every job did
     * finishes {@link Finished#ranAsEstimated()}, and its time calibrates the pool's service time).
     */
    List<Finished> terminal(String jobId, boolean ran) {
        return terminal(jobId, ran, Long.MIN_VALUE);
    }

    /**
     * As {@link #terminal(String, boolean)}; {@code firstTokenAtMs}: when the job's first token came (epoch ms,
     * {@link Long#MIN_VALUE}: unknown), which a batch finishing with every job's gives as its
     * {@link Finished#prefilledAtMs()}.
     */
    List<Finished> terminal(String jobId, boolean ran, long firstTokenAtMs) {
        List<String> holding = batchesOfJob.get(jobId);
        if (holding == null) {
            return List.of();
        }
        List<Finished> out = new ArrayList<>(1);
        for (String batchId : List.copyOf(holding)) {
            Finished f = leave(jobId, batchId, ran, firstTokenAtMs);
            if (f != null) {
                out.add(f);
            }
        }
        return out;
    }

    /**
     * Jobs still outstanding in batches sent at or before {@code sentBeforeMs}, for an audit of their claims.
     *
     * @return job id → the batches holding it, at most {@code limit} jobs, oldest batches first
     */
    Map<String, List<String>> outstandingSince(long sentBeforeMs, int limit) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (Map.Entry<String, Batch> e : batches.entrySet()) {
            if (e.getValue().sentAtMs > sentBeforeMs) {
                continue;
            }
            for (String jobId : e.getValue().outstanding) {
                if (out.size() >= limit && !out.containsKey(jobId)) {
                    return out;
                }
                out.computeIfAbsent(jobId, k -> new ArrayList<>(1)).add(e.getKey());
            }
        }
        return out;
    }

    /**
     * The stream of {@code instance} of {@code poolId} a new batch should take: the lowest of {@code 0 … streams − 1} that
     * no in-flight batch of that instance holds, else the one holding the fewest (when the scheduler put more batches on
     * the instance than it has credits, e.g. on fair credits: that stream's worker slot then runs the batch beside the
     * ones it holds, up to its batches per slot, so it waits behind none of them). Linear in the batches in flight,
     * which the pools' credits bound.
     */
    int freeStream(String poolId, int instance, int streams) {
        if (streams <= 1) {
            return 0;
        }
        int[] held = new int[streams];
        for (Batch b : batches.values()) {
            if (b.instance == instance && b.stream >= 0 && b.stream < streams && b.poolId.equals(poolId)) {
                held[b.stream]++;
            }
        }
        int best = 0;
        for (int i = 1; i < streams; i++) {
            if (held[i] < held[best]) {
                best = i;
            }
        }
        return best;
    }

    /** @return batches in flight */
    int size() {
        return batches.size();
    }

    /** @return jobs of {@code batchId} that have not left it, or 0 if the batch is not in flight */
    int outstanding(String batchId) {
        Batch b = batches.get(batchId);
        return b == null ? 0 : b.outstanding.size();
    }

    private Finished leave(String jobId, String batchId, boolean ran, long firstTokenAtMs) {
        Batch b = batches.get(batchId);
        if (b == null || !b.outstanding.remove(jobId)) {
            return null;
        }
        b.ran &= ran;
        b.prefilledAtMs = firstTokenAtMs == Long.MIN_VALUE || b.prefilledAtMs == Long.MIN_VALUE
                ? Long.MIN_VALUE : Math.max(b.prefilledAtMs, firstTokenAtMs);
        unlink(jobId, batchId);
        if (!b.outstanding.isEmpty()) {
            return null;
        }
        batches.remove(batchId);
        return new Finished(b.poolId, batchId, b.ran, b.prefilledAtMs);
    }

    private void unlink(String jobId, String batchId) {
        List<String> holding = batchesOfJob.get(jobId);
        if (holding != null) {
            holding.remove(batchId);
            if (holding.isEmpty()) {
                batchesOfJob.remove(jobId);
            }
        }
    }
}
