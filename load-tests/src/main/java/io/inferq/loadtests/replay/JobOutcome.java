package io.inferq.loadtests.replay;

/**
 * What happened to one replayed request. Written by the sending thread (submission) and by the tracker thread
 * (terminal state); each half is published through the {@code volatile} fields it sets last.
 */
public final class JobOutcome {
    public final ReplayPlan.Item item;
    public final int promptTokens;
    public final int maxTokens;
    public volatile long sentNanos;
    /** Wall-clock time of the send ({@code System.currentTimeMillis()}), to compare with server timestamps. */
    public volatile long sentAtMs;
    /** HTTP status of the submit (202 accepted), or 202 for an acknowledged Kafka record; 0 = transport error. */
    public volatile int submitStatus;
    public volatile String rejectCode;
    public volatile String rejectMessage;
    public volatile String jobId;
    /** Terminal status (succeeded, failed, expired, cancelled) or null while not finished. */
    public volatile String status;
    public volatile long submittedAtMs;
    /** When a worker started the job's batch (server {@code running}), or 0. */
    public volatile long startedAtMs;
    public volatile long firstTokenAtMs;
    public volatile long finishedAtMs;
    public volatile int cachedTokens;
    public volatile int serverPromptTokens;
    public volatile String pool;
    /** The terminal state's error code and message (failed, expired, ...), or null. */
    public volatile String errorCode;
    public volatile String errorMessage;
    public volatile long seenNanos;

    public JobOutcome(ReplayPlan.Item item, int promptTokens, int maxTokens) {
        this.item = item;
        this.promptTokens = promptTokens;
        this.maxTokens = maxTokens;
    }

    public boolean accepted() {
        return submitStatus == 202 || submitStatus == 200;
    }

    public boolean finished() {
        return status != null;
    }

    /** Seconds from queued to first token (server timestamps), or NaN. */
    public double ttftSeconds() {
        return firstTokenAtMs > 0 && submittedAtMs > 0 ? (firstTokenAtMs - submittedAtMs) / 1000.0 : Double.NaN;
    }

    /** Seconds from the client's send to the terminal state being seen by the client. */
    public double e2eSeconds() {
        return seenNanos > 0 ? (seenNanos - sentNanos) / 1e9 : Double.NaN;
    }

    /** Seconds from the worker's start of the job's batch to the job's end (server timestamps), or NaN. */
    public double serviceSeconds() {
        return startedAtMs > 0 && finishedAtMs >= startedAtMs ? (finishedAtMs - startedAtMs) / 1000.0 : Double.NaN;
    }

    /** Seconds per output token after the first (server timestamps), or NaN. */
    public double tpotSeconds() {
        if (firstTokenAtMs <= 0 || finishedAtMs <= 0) {
            return Double.NaN;
        }
        return maxTokens > 1 ? (finishedAtMs - firstTokenAtMs) / 1000.0 / (maxTokens - 1) : 0;
    }
}
