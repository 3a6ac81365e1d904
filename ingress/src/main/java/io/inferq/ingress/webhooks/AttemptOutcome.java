package io.inferq.ingress.webhooks;

/** What one delivery attempt came to. Expected failures are values; "do not retry" is a property of the value. */
sealed interface AttemptOutcome {
    /** A 2xx answer. */
    record Delivered(int status) implements AttemptOutcome {
    }

    /** Any other answer, a redirect, a timeout, a connection or DNS error: retried on the schedule. */
    record Retryable(String reason, int status, long retryAfterMs, String kind) implements AttemptOutcome {
    }

    /** {@code 410 Gone}: the endpoint is disabled, no more attempts. */
    record Gone(String reason) implements AttemptOutcome {
    }

    /** Refused before sending (forbidden target, unknown tenant, no secret, disabled endpoint): not retried. */
    record Refused(String reason) implements AttemptOutcome {
    }
}
