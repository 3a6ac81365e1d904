package io.inferq.workers.backend;

/**
 * Time as backends see it: a wall clock for the timestamps they report, a monotonic clock and a sleep
 * for pacing. Injected so tests run on a fake clock and never sleep.
 *
 * <p>Implementations must be thread-safe: several slot threads use one clock.
 */
public interface BackendClock {

    /** @return wall-clock time in epoch milliseconds */
    long epochMillis();

    /** @return a monotonic reading in nanoseconds, only meaningful as a difference */
    long nanoTime();

    /** Blocks the calling thread for {@code nanos} (no-op when not positive). */
    void sleepNanos(long nanos) throws InterruptedException;

    /** @return the system clocks and {@link Thread#sleep} */
    static BackendClock system() {
        return SystemBackendClock.INSTANCE;
    }
}
