package io.inferq.workers.runtime;

import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.JobHeaders;
import io.inferq.job.outcome.DeadLetterHeaders;
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
            h.add(JobHeaders.CORRELATION_ID, utf8(job.getCorrelationId()));
        }
        h.add(JobHeaders.TENANT, utf8(job.getTenant()));
        DeadLetterHeaders.add(h, new DeadLetterHeaders.Source(poolTopic, partition, offset, null, null, null, "inferq-worker",
                "PRODUCER", null), new DeadLetterHeaders.Failure(errorClass, message, code));
        return r;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
