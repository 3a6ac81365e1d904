package io.inferq.workers.backend;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A virtual clock for tests and virtual-time replays: {@link #sleepNanos} returns at once and moves time
 * forward by the amount slept, so a simulated batch "takes" its roofline duration without waiting.
 *
 * <p>Thread-safe, but with several threads sleeping at once their sleeps add up (time is one counter):
 * use one clock per thread of virtual time.
 */
public final class ManualBackendClock implements BackendClock {
    private final long epochMillisAtZero;
    private final AtomicLong nanos = new AtomicLong();

    /** @param epochMillis the wall-clock time the clock starts at */
    public ManualBackendClock(long epochMillis) {
        this.epochMillisAtZero = epochMillis;
    }

    @Override
    public long epochMillis() {
        return epochMillisAtZero + nanos.get() / 1_000_000;
    }

    @Override
    public long nanoTime() {
        return nanos.get();
    }

    @Override
    public void sleepNanos(long duration) throws InterruptedException {
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        advanceNanos(duration);
    }

    /** Moves time forward (no-op when not positive). */
    public void advanceNanos(long duration) {
        if (duration > 0) {
            nanos.addAndGet(duration);
        }
    }

    public void advanceMillis(long millis) {
        advanceNanos(millis * 1_000_000);
    }
}
