package io.inferq.workers.backend;

/**
 * Why a sequence failed, classified by what the caller should do about it.
 */
public sealed interface InferenceError {
    /** OpenAI-style error type, e.g. {@code server_error}, {@code invalid_request_error}. */
    String type();

    /** Machine-readable code, e.g. {@code engine_overloaded}. */
    String code();

    String message();

    /** @return whether the same request may succeed on a retry */
    boolean retriable();

    /** The engine is overloaded ({@code 429}/{@code 503}): back off and send less. Retriable. */
    record BackPressure(String code, String message, long retryAfterMs) implements InferenceError {
        @Override
        public String type() {
            return "server_error";
        }

        @Override
        public boolean retriable() {
            return true;
        }
    }

    /** A transient failure (timeout, connection reset, 5xx): retry elsewhere. */
    record Transient(String code, String message) implements InferenceError {
        @Override
        public String type() {
            return "server_error";
        }

        @Override
        public boolean retriable() {
            return true;
        }
    }

    /** The engine refused the request (bad input, context too long): fail the job with its message. */
    record Fatal(String type, String code, String message) implements InferenceError {
        @Override
        public boolean retriable() {
            return false;
        }
    }
}
