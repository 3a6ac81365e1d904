package io.inferq.kvcache;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

/** A clock under test control: its time is {@link #nanos} nanoseconds after the epoch; nothing moves it but the test. */
public final class FakeClock extends Clock {
    public final AtomicLong nanos;

    public FakeClock() {
        this(new AtomicLong());
    }

    /** @param nanos the time line, shared with the caller */
    public FakeClock(AtomicLong nanos) {
        this.nanos = nanos;
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochSecond(0, nanos.get());
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }
}
