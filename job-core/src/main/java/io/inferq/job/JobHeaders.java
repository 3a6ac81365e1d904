package io.inferq.job;

/**
 * Kafka header names that travel with a job from its request to its outcome. Values are UTF-8 strings. The request
 * contract's other headers are listed in the dispatcher's {@code ContractHeaders}; the dead-letter headers in
 * {@link io.inferq.job.outcome.DeadLetterHeaders}.
 */
public final class JobHeaders {
    /**
     * Any string up to 256 characters that the producer of a request chose; echoed on the result record, on a refusal
     * sent to the reply topic and on a dead-letter copy, and in the result's {@code correlation_id}.
     */
    public static final String CORRELATION_ID = "inferq-correlation-id";
    /** The tenant a request is for (request contract) or was for (a worker's dead-letter copy). */
    public static final String TENANT = "inferq-tenant";
    /** {@code application/json} or {@code avro/binary}: the format of a request or of a result. */
    public static final String CONTENT_TYPE = "content-type";

    private JobHeaders() {
    }
}
