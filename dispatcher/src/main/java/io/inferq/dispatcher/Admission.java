package io.inferq.dispatcher;

import java.util.Objects;

/** Result of {@link DispatchScheduler#admit}: an expected business outcome, never an exception. */
public sealed interface Admission {

    /** The job may be enqueued. */
    record Accepted() implements Admission {
    }

    /**
     * The job is refused.
     *
     * @param code         machine-readable reason, one of the {@code CODE_*} constants of {@link Admission}
     * @param message      human-readable explanation naming the limit that was hit
     * @param retryAfterMs suggested wait before retrying; {@code 0} means retrying will not help
     */
    record Rejected(String code, String message, long retryAfterMs) implements Admission {
        public Rejected {
            Objects.requireNonNull(code, "code must not be null");
            Objects.requireNonNull(message, "message must not be null");
            if (retryAfterMs < 0) {
                throw new IllegalArgumentException("retryAfterMs must not be negative, was " + retryAfterMs);
            }
        }

        /** Whether a retry after {@link #retryAfterMs} may succeed. */
        public boolean retriable() {
            return retryAfterMs > 0;
        }
    }

    /** The scheduler holds {@code maxQueuedJobs} jobs; the runtime should have paused intake. */
    String CODE_QUEUE_FULL = "queue_full";
    /** The tenant's queued tokens plus this job's would exceed its quota. */
    String CODE_TENANT_QUOTA = "tenant_quota_exceeded";
    /** The predicted wait ends after the job's deadline. */
    String CODE_DEADLINE = "deadline_unreachable";
    /** No configured pool serves the job's model. */
    String CODE_MODEL_NOT_SERVED = "model_not_served";
    /** The prompt is longer than the batch token budget of every pool serving the model. */
    String CODE_PROMPT_TOO_LONG = "context_length_exceeded";

    Admission ACCEPTED = new Accepted();
}
