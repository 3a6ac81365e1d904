package io.inferq.ingress.batch;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Live progress of every batch, learnt from the job events this process reads (every process reads every event, so
 * any ingress process answers {@code request_counts} and {@code usage} while the batch runs). A job of a batch has the
 * id {@code <batch id>_<line>} ({@link BatchJobs#jobId}); each line counts once however often its terminal event is read
 * (a replay at start, a repeated write), so the counts rebuild exactly from the compacted job-events topic.
 *
 * <p>Thread-safe: events arrive on the job view's thread, reads come from anywhere.
 */
final class BatchProgress {
    private final Map<String, Counts> batches = new ConcurrentHashMap<>();

    /** One batch's counts; guarded by itself. */
    static final class Counts {
        private final BitSet done = new BitSet();
        private int completed;
        private int failed;
        private long promptTokens;
        private long completionTokens;
        private long cachedTokens;

        synchronized Snapshot snapshot() {
            return new Snapshot(completed, failed, promptTokens, completionTokens, cachedTokens);
        }

        synchronized boolean isDone(int line) {
            return done.get(line);
        }
    }

    /** Counts at one moment. */
    record Snapshot(int completed, int failed, long promptTokens, long completionTokens, long cachedTokens) {
        int finished() {
            return completed + failed;
        }
    }

    /** Feeds a job event (any thread; cheap; ignores events of jobs outside batches and non-terminal ones). */
    void onJobEvent(JobEvent e) {
        if (e.getBatchId() == null) {
            return;
        }
        JobStatus status = JobStatus.fromWire(e.getStatus());
        if (!status.isTerminal()) {
            return;
        }
        int line = BatchJobs.lineOf(e.getJobId());
        if (line < 1) {
            return;
        }
        Counts c = batches.computeIfAbsent(e.getBatchId(), k -> new Counts());
        synchronized (c) {
            if (c.done.get(line)) {
                return;
            }
            c.done.set(line);
            if (status == JobStatus.SUCCEEDED) {
                c.completed++;
            } else {
                c.failed++;
            }
            if (e.getUsage() != null) {
                c.promptTokens += e.getUsage().getPromptTokens();
                c.completionTokens += e.getUsage().getCompletionTokens();
                c.cachedTokens += e.getUsage().getCachedTokens();
            }
        }
    }

    Snapshot of(String batchId) {
        Counts c = batches.get(batchId);
        return c == null ? new Snapshot(0, 0, 0, 0, 0) : c.snapshot();
    }

    boolean isDone(String batchId, int line) {
        Counts c = batches.get(batchId);
        return c != null && c.isDone(line);
    }

    /** Forgets a finished batch (its counts are in its final snapshot). */
    void forget(String batchId) {
        batches.remove(batchId);
    }
}
