package io.inferq.workers.backend;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A virtual {@link Clock} for tests and virtual-time replays: time moves only when told, and a backend's pacing sleep
 * ({@link #sleepNanos}) returns at once and moves time forward by the amount slept, so a simulated batch "takes" its
 * roofline duration without waiting.
 *
 * <p>Thread-safe, but with several threads sleeping at once their sleeps add up (time is one counter):
 * use one clock per thread of virtual time.
 */
final class ManualClock extends Clock {
    private final long epochMillisAtZero;
    private final AtomicLong nanos;

    /** @param epochMillis the wall-clock time the clock starts at */
    public ManualClock(long epochMillis) {
        this(epochMillis, new AtomicLong());
    }

    private ManualClock(long epochMillis, AtomicLong nanos) {
        this.epochMillisAtZero = epochMillis;
        this.nanos = nanos;
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(epochMillisAtZero).plusNanos(nanos.get());
    }

    @Override
    public long millis() {
        return epochMillisAtZero + nanos.get() / 1_000_000;
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    /** The same time line (advancing one advances both); the zone is ignored, this clock is UTC. */
    @Override
    public Clock withZone(ZoneId zone) {
        return new ManualClock(epochMillisAtZero, nanos);
    }

    /** @return nanoseconds this clock has advanced since it was made */
    public long elapsedNanos() {
        return nanos.get();
    }

    /** A virtual sleep: moves time forward at once. */
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

    /**
     * Sleeps on {@code clock}'s time line: virtually on a {@link ManualClock}, else really (no-op when not positive).
     * Blocking: call from a worker thread.
     */
    static void sleepNanos(Clock clock, long nanos) throws InterruptedException {
        if (clock instanceof ManualClock manual) {
            manual.sleepNanos(nanos);
        } else if (nanos > 0) {
            TimeUnit.NANOSECONDS.sleep(nanos);
        }
    }

    /** A reading of {@code clock} in nanoseconds since the epoch, for measuring differences. */
    static long nanoTime(Clock clock) {
        Instant i = clock.instant();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }
}
