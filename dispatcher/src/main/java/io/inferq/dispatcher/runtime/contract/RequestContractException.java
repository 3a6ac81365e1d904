package io.inferq.dispatcher.runtime.contract;

/**
 * Why a request record was refused; its class name and message go to the dead-letter headers, its
 * {@link #code()} (the HTTP API's error code where one exists) to {@code inferq-error-code}. Never
 * retriable: the same bytes fail the same way.
 */
public abstract sealed class RequestContractException extends Exception
        permits RequestContractException.Undecodable, RequestContractException.Invalid, RequestContractException.Unauthenticated {
    private static final long serialVersionUID = 1L;
    private final String code;
    private final String param;

    RequestContractException(String code, String message, String param) {
        super(message, null, false, false); // an expected outcome: no stack trace
        this.code = code;
        this.param = param;
    }

    /** @return an OpenAI-style error code, e.g. {@code invalid_max_tokens} */
    public String code() {
        return code;
    }

    /** @return the offending field or header, or null */
    public String param() {
        return param;
    }

    /** Bytes that are neither a JSON object nor single-object Avro of a known schema version. */
    public static final class Undecodable extends RequestContractException {
        private static final long serialVersionUID = 1L;

        Undecodable(String code, String message) {
            super(code, message, null);
        }
    }

    /** A well-formed request that breaks a validation rule. */
    public static final class Invalid extends RequestContractException {
        private static final long serialVersionUID = 1L;

        Invalid(String code, String message, String param) {
            super(code, message, param);
        }
    }

    /** Unknown tenant, wrong API key, or a forged inferq origin. */
    public static final class Unauthenticated extends RequestContractException {
        private static final long serialVersionUID = 1L;

        Unauthenticated(String code, String message) {
            super(code, message, null);
        }
    }
}
