package io.inferq.dispatcher.runtime.contract;

/**
 * Header names of inferq's Kafka request contract. Values are UTF-8 strings.
 *
 * <p>Request headers (set by the producer): {@link #CONTENT_TYPE}, {@link #TENANT}, {@link #API_KEY},
 * {@link #CORRELATION_ID}, {@link #REPLY_TOPIC}, {@link #DEADLINE}. Result header (set by inferq):
 * {@link #CORRELATION_ID}. Dead-letter headers: {@link io.inferq.job.outcome.DeadLetterHeaders}.
 */
public final class ContractHeaders {
    /** {@code application/json} for an OpenAI chat-completions JSON body; absent or {@code avro/binary} for Avro. */
    public static final String CONTENT_TYPE = io.inferq.job.JobHeaders.CONTENT_TYPE;
    /** The tenant the producer acts for; may be omitted in open mode (then {@code default}). */
    public static final String TENANT = io.inferq.job.JobHeaders.TENANT;
    /** One of the tenant's API keys. Never copied to the dead-letter topic. */
    public static final String API_KEY = "inferq-api-key";
    /** Any string up to 256 characters; echoed on the result record and in the result's {@code correlation_id}. */
    public static final String CORRELATION_ID = io.inferq.job.JobHeaders.CORRELATION_ID;
    /** Topic the result goes to instead of {@code inferq.results}. */
    public static final String REPLY_TOPIC = "inferq-reply-topic";
    /** RFC 3339 timestamp, or a duration ({@code 90s}, {@code 5m}, {@code PT30S}) counted from the record timestamp. */
    public static final String DEADLINE = "inferq-deadline";
    /** Optional producer-chosen job id (same rules as the Avro {@code job_id}); absent: derived from the record's position. */
    public static final String JOB_ID = "inferq-job-id";

    public static final String JSON = "application/json";
    public static final String AVRO = "avro/binary";

    private ContractHeaders() {
    }
}
