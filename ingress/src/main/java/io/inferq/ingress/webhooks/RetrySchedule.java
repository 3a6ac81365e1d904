package io.inferq.ingress.webhooks;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.function.DoubleSupplier;

/**
 * The Standard Webhooks / Svix retry schedule: attempts at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
 * 10 h after the previous failure — eight attempts — each delay with ±{@code jitter} randomness so that a
 * receiver that comes back is not hit by every sender at the same instant. A {@code Retry-After} that asks
 * for longer than the schedule is honoured (capped at the longest step, 10 h). Stateless apart from the
 * injected random source; thread-safe when that is.
 */
final class RetrySchedule {
    /** Delay before attempt {@code i+1} (index 0 is the first attempt). */
    static final List<Duration> DELAYS = List.of(Duration.ZERO, Duration.ofSeconds(5), Duration.ofMinutes(5),
            Duration.ofMinutes(30), Duration.ofHours(2), Duration.ofHours(5), Duration.ofHours(10), Duration.ofHours(10));
    static final int MAX_ATTEMPTS = DELAYS.size();
    static final long MAX_RETRY_AFTER_MS = Duration.ofHours(10).toMillis();

    private final double jitter;
    private final DoubleSupplier random;

    /**
     * @param jitter relative jitter, 0 to 0.5
     * @param random uniform source in [0, 1)
     */
    RetrySchedule(double jitter, DoubleSupplier random) {
        this.jitter = jitter;
        this.random = random;
    }

    /**
     * @param attemptsMade attempts already made (at least 1)
     * @param retryAfterMs what the receiver asked for, or 0
     * @return the delay before the next attempt, or -1 when the schedule is exhausted
     */
    long nextDelayMs(int attemptsMade, long retryAfterMs) {
        if (attemptsMade >= MAX_ATTEMPTS) {
            return -1;
        }
        long base = DELAYS.get(attemptsMade).toMillis();
        long jittered = Math.round(base * (1 + jitter * (2 * random.getAsDouble() - 1)));
        return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
    }

    /**
     * Parses {@code Retry-After}: delay seconds or an HTTP date.
     *
     * @return milliseconds from {@code nowMs}, or 0 when absent, unparsable or in the past
     */
    static long parseRetryAfter(String value, long nowMs) {
        if (value == null || value.isBlank()) {
            return 0;
        }
        String v = value.trim();
        try {
            long seconds = Long.parseLong(v);
            return seconds <= 0 ? 0 : Math.min(seconds, MAX_RETRY_AFTER_MS / 1000 + 1) * 1000;
        } catch (NumberFormatException e) {
            try {
                Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
                return Math.max(0, at.toEpochMilli() - nowMs);
            } catch (DateTimeParseException ex) {
                return 0;
            }
        }
    }
}
