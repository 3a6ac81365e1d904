package io.inferq.ingress.webhooks;

import java.util.Objects;

/**
 * One webhook delivery's state, as kept (latest wins) in the compacted delivery topic under its id.
 *
 * <p>Every change is a new record with {@code version + 1}; a reader keeps the highest version it has seen,
 * so a stale write that lands late never rolls a delivery back. {@code DELIVERED} records drop the payload
 * and stay as small markers for the creation horizon, so a restart that re-materialises old job snapshots
 * does not send them again.
 *
 * @param id              the {@code webhook-id}: {@code msg_} + hash(job id, event type)
 * @param version         1 at creation, +1 per change
 * @param state           pending, delivered or failed (dead-lettered)
 * @param tenant          owning tenant (signing secrets are looked up at each attempt, so rotation applies)
 * @param jobId           the job
 * @param eventType       {@code job.queued}, {@code job.running} or {@code job.completed}
 * @param url             target URL
 * @param payload         the exact JSON body, identical for every attempt; null for delivered markers
 * @param createdAtMs     when the job entered the state this event reports
 * @param attempts        attempts made so far
 * @param nextAttemptAtMs when a pending delivery is due
 * @param lastError       why the last attempt failed, or null
 * @param lastStatus      HTTP status of the last attempt, 0 when there was no response
 * @param updatedAtMs     when this version was written
 */
record Delivery(String id, long version, State state, String tenant, String jobId, String eventType, String url,
        String payload, long createdAtMs, int attempts, long nextAttemptAtMs, String lastError, int lastStatus,
        long updatedAtMs) {

    enum State { PENDING, DELIVERED, FAILED }

    Delivery {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(eventType, "eventType");
        Objects.requireNonNull(url, "url");
    }

    boolean isLive() {
        return state != State.DELIVERED;
    }

    Delivery retryAt(long nowMs, long nextAtMs, String error, int status) {
        return new Delivery(id, version + 1, State.PENDING, tenant, jobId, eventType, url, payload, createdAtMs,
                attempts + 1, nextAtMs, error, status, nowMs);
    }

    Delivery delivered(long nowMs, int status) {
        return new Delivery(id, version + 1, State.DELIVERED, tenant, jobId, eventType, url, null, createdAtMs,
                attempts + 1, 0, null, status, nowMs);
    }

    /** @param countsAsAttempt whether an HTTP attempt was made (false when refused before sending) */
    Delivery failed(long nowMs, String error, int status, boolean countsAsAttempt) {
        return new Delivery(id, version + 1, State.FAILED, tenant, jobId, eventType, url, payload, createdAtMs,
                attempts + (countsAsAttempt ? 1 : 0), 0, error, status, nowMs);
    }

    /** A failed delivery queued again: attempts reset, same id and payload. */
    Delivery replayed(long nowMs) {
        return new Delivery(id, version + 1, State.PENDING, tenant, jobId, eventType, url, payload, createdAtMs,
                0, nowMs, lastError, lastStatus, nowMs);
    }

    /** The same state under a higher version: rewritten so compaction keeps it over a stale record. */
    Delivery rewrittenAs(long newVersion) {
        return new Delivery(id, newVersion, state, tenant, jobId, eventType, url, payload, createdAtMs, attempts,
                nextAttemptAtMs, lastError, lastStatus, updatedAtMs);
    }
}
