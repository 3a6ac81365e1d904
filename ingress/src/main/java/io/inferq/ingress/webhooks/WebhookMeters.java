package io.inferq.ingress.webhooks;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** The {@code inferq.webhooks.*} meters. Thread-safe (Micrometer meters). */
final class WebhookMeters {
    private final MeterRegistry registry;
    private final Counter attempted;
    private final Counter succeeded;
    private final Counter deadLettered;
    private final Counter dropped;

    WebhookMeters(MeterRegistry registry, AtomicInteger live) {
        this.registry = registry;
        this.attempted = Counter.builder("inferq.webhooks.attempts").description("webhook HTTP attempts made").register(registry);
        this.succeeded = Counter.builder("inferq.webhooks.deliveries.succeeded").description("deliveries answered 2xx").register(registry);
        this.deadLettered = Counter.builder("inferq.webhooks.deliveries.dead_lettered")
                .description("deliveries that failed for good and went to the dead-letter topic").register(registry);
        this.dropped = Counter.builder("inferq.webhooks.creations.dropped")
                .description("deliveries not created because creation was saturated for 30 s").register(registry);
        registry.gauge("inferq.webhooks.deliveries.live", live);
    }

    void attempted() {
        attempted.increment();
    }

    void creationDropped() {
        dropped.increment();
    }

    void delivered(long latencyNs) {
        succeeded.increment();
        timer("delivered").record(latencyNs, TimeUnit.NANOSECONDS);
    }

    /** An attempt that did not deliver; {@code latencyNs} negative when no request was sent. */
    void failed(String kind, long latencyNs) {
        Counter.builder("inferq.webhooks.attempts.failed").tag("reason", kind)
                .description("webhook attempts that did not deliver").register(registry).increment();
        if (latencyNs >= 0) {
            timer("failed").record(latencyNs, TimeUnit.NANOSECONDS);
        }
    }

    void deadLettered() {
        deadLettered.increment();
    }

    private Timer timer(String outcome) {
        return Timer.builder("inferq.webhooks.attempt.latency").tag("outcome", outcome)
                .description("time from sending a webhook attempt to its outcome").register(registry);
    }
}
