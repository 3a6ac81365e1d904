package io.inferq.job.outcome;

/**
 * A doubling retry delay: {@code minMs} after the first failure, then twice as long after each further one, never more
 * than {@code maxMs}. Immutable.
 *
 * @param minMs delay after the first failed attempt (attempt 0), at least 1
 * @param maxMs the longest delay, at least {@code minMs}
 */
public record Backoff(long minMs, long maxMs) {
    public Backoff {
        if (minMs < 1) {
            throw new IllegalArgumentException("backoff minimum must be at least 1 ms, got " + minMs);
        }
        if (maxMs < minMs) {
            throw new IllegalArgumentException("backoff maximum (" + maxMs + " ms) must not be below its minimum (" + minMs + " ms)");
        }
    }

    /** The delay after failed attempt {@code attempt} (0 = the first). */
    public long delayMs(int attempt) {
        return Math.min(maxMs, minMs << Math.min(Math.max(attempt, 0), 16));
    }
}
