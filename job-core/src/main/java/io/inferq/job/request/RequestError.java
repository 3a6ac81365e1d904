package io.inferq.job.request;

import java.util.Objects;

/**
 * Why a request is refused — the one shape of an invalid request, whichever way it came in. The HTTP API renders it as
 * an OpenAI-style error ({@code {"error": {"type", "code", "message", "param"}}} with the status of its {@link Kind});
 * the Kafka contract as the dead-letter headers of the refused record (its code in {@code inferq-error-code}); a batch
 * line as an entry of the batch's error file. Immutable.
 *
 * @param kind    what sort of refusal
 * @param code    OpenAI-style machine-readable code ({@code invalid_max_tokens})
 * @param message what was wrong, for a person
 * @param param   the offending field or header, or null
 */
public record RequestError(Kind kind, String code, String message, String param) {
    /** What sort of refusal; never retriable: the same request fails the same way. */
    public enum Kind {
        /** Bytes that are no request at all (not JSON, not Avro of a known schema, an unsupported content type). */
        UNDECODABLE("Undecodable"),
        /** A well-formed request that breaks a rule. */
        INVALID("Invalid"),
        /** A request for a model the fleet does not serve (HTTP answers 404). */
        UNKNOWN_MODEL("Invalid"),
        /** Unknown tenant, wrong API key, or a forged inferq origin. */
        UNAUTHENTICATED("Unauthenticated");

        private final String dlqName;

        Kind(String dlqName) {
            this.dlqName = dlqName;
        }

        /**
         * The exception class a dead-letter record names ({@code __connect.errors.exception.class.name},
         * {@code kafka_dlt-exception-fqcn}) for this kind: the values the Kafka contract has always written, kept so
         * that DLQ consumers keying on them keep working.
         */
        public String deadLetterClass() {
            return "io.inferq.dispatcher.runtime.contract.RequestContractException$" + dlqName;
        }
    }

    public RequestError {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(code, "code");
        Objects.requireNonNull(message, "message");
    }

    public static RequestError invalid(String code, String message, String param) {
        return new RequestError(Kind.INVALID, code, message, param);
    }

    public static RequestError undecodable(String code, String message) {
        return new RequestError(Kind.UNDECODABLE, code, message, null);
    }

    public static RequestError unauthenticated(String code, String message) {
        return new RequestError(Kind.UNAUTHENTICATED, code, message, null);
    }

    /** This error as the exception a validator throws to stop at the first problem. */
    public RequestRejected rejected() {
        return new RequestRejected(this);
    }
}
