package io.inferq.workers.runtime;

import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.topics.TopicCatalogue;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.InvalidRecordException;

/**
 * Why a job's outcome cannot be written where it should go, when trying again cannot help: the job fails with
 * {@link #code()} instead of stalling its batch (and with it the pool). A transient error is not a
 * {@code WriteFailure}: the batch is written again, with backoff, up to a limit ({@link WorkerSlot}).
 *
 * @param code        the error code on the job's {@code failed} result and in the dead-letter copy's {@code inferq-error-code}
 * @param message     what went wrong, for the result and the dead-letter copy
 * @param replyTopic  whether the job's reply topic is the problem (its result then goes to {@code inferq.results})
 * @param errorClass  the Java class of the cause, for the dead-letter headers
 */
record WriteFailure(String code, String message, boolean replyTopic, String errorClass) {
    /** A reply topic no client may write (Kafka's internal {@code __*} topics, an illegal name) or this worker may not. */
    static final String REPLY_TOPIC_NOT_WRITABLE = "reply_topic_not_writable";
    /** A result or job event larger than the topic or the producer accepts. */
    static final String RESULT_TOO_LARGE = "result_too_large";
    /** The outcome could not be encoded. */
    static final String RESULT_NOT_SERIALIZABLE = "result_not_serializable";
    /** Writes that kept failing with transient errors, past the retry limit. */
    static final String RESULT_WRITE_FAILED = "result_write_failed";

    // Dead-letter headers: the conventions the dispatcher writes (Kafka Connect's and Spring Kafka's), plus inferq's code
    static final String CONNECT_TOPIC = "__connect.errors.topic";
    static final String CONNECT_PARTITION = "__connect.errors.partition";
    static final String CONNECT_OFFSET = "__connect.errors.offset";
    static final String CONNECT_CONNECTOR_NAME = "__connect.errors.connector.name";
    static final String CONNECT_STAGE = "__connect.errors.stage";
    static final String CONNECT_EXCEPTION_CLASS = "__connect.errors.exception.class.name";
    static final String CONNECT_EXCEPTION_MESSAGE = "__connect.errors.exception.message";
    static final String SPRING_ORIGINAL_TOPIC = "kafka_dlt-original-topic";
    static final String SPRING_ORIGINAL_PARTITION = "kafka_dlt-original-partition";
    static final String SPRING_ORIGINAL_OFFSET = "kafka_dlt-original-offset";
    static final String SPRING_EXCEPTION_FQCN = "kafka_dlt-exception-fqcn";
    static final String SPRING_EXCEPTION_MESSAGE = "kafka_dlt-exception-message";
    static final String ERROR_CODE = "inferq-error-code";
    static final String TENANT = "inferq-tenant";

    /** A reply topic refused before anything is written: Kafka's internal topics and names Kafka does not accept. */
    static WriteFailure replyTopicProblem(String topic) {
        if (topic.startsWith("__")) {
            return new WriteFailure(REPLY_TOPIC_NOT_WRITABLE, "the reply topic '" + topic + "' is one of Kafka's internal topics;"
                    + " no result can be written there", true, InvalidTopicException.class.getName());
        }
        if (!topic.matches("[A-Za-z0-9._-]{1,249}") || topic.equals(".") || topic.equals("..")) {
            return new WriteFailure(REPLY_TOPIC_NOT_WRITABLE, "the reply topic is not a legal Kafka topic name", true,
                    InvalidTopicException.class.getName());
        }
        return null;
    }

    /**
     * @param toReplyTopic whether the failed record was the job's result on its reply topic
     * @return the permanent failure {@code error} (or a cause of it) means for one record, or null when it is transient or
     * says nothing about the record (an aborted transaction, a producer in an error state: a plain {@link KafkaException}
     * whose cause is another record's failure)
     */
    static WriteFailure classify(Throwable error, boolean toReplyTopic) {
        if (error != null && error.getClass() == KafkaException.class) {
            // the producer refusing a send because an earlier record of the transaction failed: the cause is that other
            // record's error, not this one's (blaming it would fail a job whose own write was fine)
            return null;
        }
        for (Throwable c = error; c != null; c = c.getCause()) {
            String why = c.getClass().getSimpleName() + ": " + c.getMessage();
            if (c instanceof InvalidTopicException || c instanceof TopicAuthorizationException) {
                return toReplyTopic ? new WriteFailure(REPLY_TOPIC_NOT_WRITABLE, "the result could not be written to the reply topic ("
                        + why + ")", true, c.getClass().getName())
                        : new WriteFailure(RESULT_WRITE_FAILED, "the job's outcome could not be written (" + why + ")", false, c.getClass().getName());
            }
            if (c instanceof RecordTooLargeException || c instanceof RecordBatchTooLargeException) {
                return new WriteFailure(RESULT_TOO_LARGE, "the job's result is larger than Kafka accepts (" + why + ")", false,
                        c.getClass().getName());
            }
            if (c instanceof SerializationException || c instanceof InvalidRecordException) {
                return new WriteFailure(RESULT_NOT_SERIALIZABLE, "the job's result could not be encoded (" + why + ")", false,
                        c.getClass().getName());
            }
        }
        return null;
    }

    /**
     * A copy of the failed job's request for {@code inferq.requests.dlq}: the request as the worker holds it (single-object
     * Avro {@code JobRequest}), keyed by job id, with the error headers the dispatcher's dead-letter records carry; the
     * original position is the batch's on its pool topic.
     */
    ProducerRecord<String, byte[]> deadLetter(JobRequest job, byte[] requestBytes, String poolTopic, int partition, long offset) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(TopicCatalogue.REQUESTS_DLQ, job.getJobId(), requestBytes);
        var h = r.headers();
        if (job.getCorrelationId() != null) {
            h.add(WorkerSlot.CORRELATION_HEADER, utf8(job.getCorrelationId()));
        }
        h.add(TENANT, utf8(job.getTenant()));
        h.add(CONNECT_TOPIC, utf8(poolTopic));
        h.add(CONNECT_PARTITION, utf8(String.valueOf(partition)));
        h.add(CONNECT_OFFSET, utf8(String.valueOf(offset)));
        h.add(CONNECT_CONNECTOR_NAME, utf8("inferq-worker"));
        h.add(CONNECT_STAGE, utf8("PRODUCER"));
        h.add(CONNECT_EXCEPTION_CLASS, utf8(errorClass));
        h.add(CONNECT_EXCEPTION_MESSAGE, utf8(message));
        h.add(SPRING_ORIGINAL_TOPIC, utf8(poolTopic));
        h.add(SPRING_ORIGINAL_PARTITION, ByteBuffer.allocate(Integer.BYTES).putInt(partition).array());
        h.add(SPRING_ORIGINAL_OFFSET, ByteBuffer.allocate(Long.BYTES).putLong(offset).array());
        h.add(SPRING_EXCEPTION_FQCN, utf8(errorClass));
        h.add(SPRING_EXCEPTION_MESSAGE, utf8(message));
        h.add(ERROR_CODE, utf8(code));
        return r;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
