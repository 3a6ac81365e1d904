package io.inferq.workers.backend;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Credit and back-pressure state of one engine instance. Credits follow additive increase,
 * multiplicative decrease: a {@code 429}/{@code 503} halves the instance's credit limit (at least 1) and
 * stops it receiving retries until its {@code Retry-After} has passed; each success raises the limit by
 * one up to the configured maximum. Thread-safe (updated from event-loop callbacks, read from anywhere).
 */
final class EngineInstance {
    final int index;
    final String chatCompletionsUrl;
    private final int maxCredits;
    private final AtomicInteger creditLimit;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong backPressureUntilMs = new AtomicLong();

    EngineInstance(int index, String baseUrl, int maxCredits) {
        this.index = index;
        this.chatCompletionsUrl = baseUrl.replaceAll("/+$", "") + "/v1/chat/completions";
        this.maxCredits = maxCredits;
        this.creditLimit = new AtomicInteger(maxCredits);
    }

    void started() {
        inFlight.incrementAndGet();
    }

    void finished() {
        inFlight.decrementAndGet();
    }

    void succeeded() {
        creditLimit.updateAndGet(limit -> Math.min(maxCredits, limit + 1));
    }

    void pushedBack(long nowMs, long retryAfterMs) {
        creditLimit.updateAndGet(limit -> Math.max(1, limit / 2));
        backPressureUntilMs.accumulateAndGet(nowMs + retryAfterMs, Math::max);
    }

    boolean backingOff(long nowMs) {
        return nowMs < backPressureUntilMs.get();
    }

    long backPressureUntilMs() {
        return backPressureUntilMs.get();
    }

    int creditLimit() {
        return creditLimit.get();
    }

    int availableCredits(long nowMs) {
        return backingOff(nowMs) ? 0 : Math.max(0, creditLimit.get() - inFlight.get());
    }
}
