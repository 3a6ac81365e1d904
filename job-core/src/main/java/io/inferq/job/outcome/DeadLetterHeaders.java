package io.inferq.job.outcome;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;
import org.apache.kafka.common.header.Headers;

/**
 * The headers of a record on {@code inferq.requests.dlq}, whoever writes it (the dispatcher for a refused request, a
 * worker for a job whose outcome cannot be written). Both common conventions are written, so Kafka Connect and Spring
 * Kafka tooling read them unchanged: Connect's {@code __connect.errors.*} (DeadLetterQueueReporter; UTF-8 strings) and
 * Spring's {@code kafka_dlt-*} (DeadLetterPublishingRecoverer; topic and texts UTF-8, partition a 4-byte and
 * offset/timestamp 8-byte big-endian integers), plus inferq's own {@value #ERROR_CODE}. Stateless and thread-safe.
 */
public final class DeadLetterHeaders {
    // Kafka Connect's convention, values UTF-8 strings
    public static final String CONNECT_TOPIC = "__connect.errors.topic";
    public static final String CONNECT_PARTITION = "__connect.errors.partition";
    public static final String CONNECT_OFFSET = "__connect.errors.offset";
    public static final String CONNECT_CONNECTOR_NAME = "__connect.errors.connector.name";
    public static final String CONNECT_STAGE = "__connect.errors.stage";
    public static final String CONNECT_EXECUTING_CLASS = "__connect.errors.class.name";
    public static final String CONNECT_EXCEPTION_CLASS = "__connect.errors.exception.class.name";
    public static final String CONNECT_EXCEPTION_MESSAGE = "__connect.errors.exception.message";
    // Spring Kafka's: partition int, offset and timestamp long, big-endian
    public static final String SPRING_ORIGINAL_TOPIC = "kafka_dlt-original-topic";
    public static final String SPRING_ORIGINAL_PARTITION = "kafka_dlt-original-partition";
    public static final String SPRING_ORIGINAL_OFFSET = "kafka_dlt-original-offset";
    public static final String SPRING_ORIGINAL_TIMESTAMP = "kafka_dlt-original-timestamp";
    public static final String SPRING_ORIGINAL_TIMESTAMP_TYPE = "kafka_dlt-original-timestamp-type";
    public static final String SPRING_ORIGINAL_CONSUMER_GROUP = "kafka_dlt-original-consumer-group";
    public static final String SPRING_EXCEPTION_FQCN = "kafka_dlt-exception-fqcn";
    public static final String SPRING_EXCEPTION_MESSAGE = "kafka_dlt-exception-message";
    /** inferq's own: the OpenAI-style error code ({@code invalid_max_tokens}, {@code result_too_large}), when there is one. */
    public static final String ERROR_CODE = "inferq-error-code";
    /** Credentials and inferq's origin mark are never copied to the dead-letter topic (lower case). */
    private static final Set<String> NEVER_COPIED = Set.of("inferq-api-key", "inferq-origin-signature");

    private DeadLetterHeaders() {
    }

    /**
     * Where the dead-lettered record was read and who gives up on it.
     *
     * @param timestamp      the original record's timestamp, or null when the copy is not of a record that was read
     * @param timestampType  the original record's timestamp type ({@code CreateTime}), or null
     * @param consumerGroup  the group that read it, or null
     * @param executingClass the class that refused it (Connect's {@code class.name}), or null
     */
    public record Source(String topic, int partition, long offset, Long timestamp, String timestampType, String consumerGroup,
            String connectorName, String stage, String executingClass) {
    }

    /**
     * Why the record was refused.
     *
     * @param errorClass the Java class of the failure (never null; {@code io.inferq.UnknownError} when unknown)
     * @param message    what went wrong (never null)
     * @param code       the OpenAI-style error code, or null
     */
    public record Failure(String errorClass, String message, String code) {
        public Failure {
            errorClass = errorClass == null ? "io.inferq.UnknownError" : errorClass;
            message = message == null ? "" : message;
        }
    }

    /** Whether a header of the original record may be copied to its dead-letter copy. */
    public static boolean copied(String headerKey) {
        return !NEVER_COPIED.contains(headerKey.toLowerCase(Locale.ROOT));
    }

    /** Adds the dead-letter headers for {@code source} and {@code failure} to {@code h}. */
    public static void add(Headers h, Source source, Failure failure) {
        h.add(CONNECT_TOPIC, utf8(source.topic()));
        h.add(CONNECT_PARTITION, utf8(String.valueOf(source.partition())));
        h.add(CONNECT_OFFSET, utf8(String.valueOf(source.offset())));
        h.add(CONNECT_CONNECTOR_NAME, utf8(source.connectorName()));
        h.add(CONNECT_STAGE, utf8(source.stage()));
        if (source.executingClass() != null) {
            h.add(CONNECT_EXECUTING_CLASS, utf8(source.executingClass()));
        }
        h.add(CONNECT_EXCEPTION_CLASS, utf8(failure.errorClass()));
        h.add(CONNECT_EXCEPTION_MESSAGE, utf8(failure.message()));
        h.add(SPRING_ORIGINAL_TOPIC, utf8(source.topic()));
        h.add(SPRING_ORIGINAL_PARTITION, ByteBuffer.allocate(Integer.BYTES).putInt(source.partition()).array());
        h.add(SPRING_ORIGINAL_OFFSET, ByteBuffer.allocate(Long.BYTES).putLong(source.offset()).array());
        if (source.timestamp() != null) {
            h.add(SPRING_ORIGINAL_TIMESTAMP, ByteBuffer.allocate(Long.BYTES).putLong(source.timestamp()).array());
        }
        if (source.timestampType() != null) {
            h.add(SPRING_ORIGINAL_TIMESTAMP_TYPE, utf8(source.timestampType()));
        }
        if (source.consumerGroup() != null) {
            h.add(SPRING_ORIGINAL_CONSUMER_GROUP, utf8(source.consumerGroup()));
        }
        h.add(SPRING_EXCEPTION_FQCN, utf8(failure.errorClass()));
        h.add(SPRING_EXCEPTION_MESSAGE, utf8(failure.message()));
        if (failure.code() != null) {
            h.add(ERROR_CODE, utf8(failure.code()));
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
