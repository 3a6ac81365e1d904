package io.inferq.ingress.tenants;

import java.time.Instant;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A token bucket per tenant, local to this ingress process: {@code requestsPerSecond} sustained,
 * bursts up to two seconds' worth. Thread-safe; time comes from an injected clock.
 */
public final class SubmitRateLimiter {
    private final Clock clock;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

    public SubmitRateLimiter(Clock clock) {
        this.clock = clock;
    }

    /** @return 0 if the request may go ahead, else milliseconds until it may */
    public long tryAcquire(Tenant tenant) {
        Bucket b = buckets.computeIfAbsent(tenant.id(), k -> new Bucket(tenant.requestsPerSecond(), nanoTime()));
        synchronized (b) {
            long now = nanoTime();
            double capacity = Math.max(1, tenant.requestsPerSecond() * 2);
            b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.lastNanos) / 1e9 * tenant.requestsPerSecond());
            b.lastNanos = now;
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return 0;
            }
            return (long) Math.ceil((1 - b.tokens) / tenant.requestsPerSecond() * 1000);
        }
    }

    private long nanoTime() {
        Instant i = clock.instant();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    private static final class Bucket {
        double tokens;
        long lastNanos;

        Bucket(double rps, long now) {
            this.tokens = Math.max(1, rps * 2);
            this.lastNanos = now;
        }
    }
}
