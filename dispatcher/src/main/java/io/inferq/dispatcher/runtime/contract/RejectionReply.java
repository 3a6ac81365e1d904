package io.inferq.dispatcher.runtime.contract;

import io.inferq.broker.avro.JobError;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.job.ResultRecords;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.runtime.RequestDecoding;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The error result a producer waiting on its reply topic gets when its request is refused: besides the dead-letter copy,
 * a {@code failed} result with the refusal's code and message, keyed by the job id the request would have had
 * ({@code inferq-job-id}, else the id derived from the record's position), with the request's correlation id. Sent only
 * when the record names a correlation id and a reply topic that is a legal one (not when the refusal is about the reply
 * topic itself); JSON when the request was JSON (by header or by its first byte), Avro otherwise, or as
 * {@value #RESULT_CONTENT_TYPE} asks. Stateless.
 */
public final class RejectionReply {
    /** A request header choosing the result's format: {@code application/json} or {@code avro/binary}. */
    public static final String RESULT_CONTENT_TYPE = "inferq-result-content-type";
    private static final AvroSerde<JobResult> AVRO = new AvroSerde<>(JobResult.class);

    private RejectionReply() {
    }

    /** @return the error result to send for a refused record, if its producer can be answered */
    public static Optional<ProducerRecord<String, byte[]>> of(ConsumerRecord<String, byte[]> record, RequestDecoding.Result why) {
        String correlation = KafkaRequestContract.header(record, ContractHeaders.CORRELATION_ID);
        String replyTopic = KafkaRequestContract.header(record, ContractHeaders.REPLY_TOPIC);
        if (correlation == null || correlation.isEmpty() || correlation.length() > 255 || replyTopic == null
                || String.valueOf(why.errorCode()).contains("reply_topic")) {
            return Optional.empty();
        }
        try {
            RequestRules.replyTopic(replyTopic);
        } catch (io.inferq.job.request.RequestRejected e) {
            return Optional.empty();
        }
        String jobId = KafkaRequestContract.header(record, ContractHeaders.JOB_ID);
        if (jobId == null || jobId.isBlank() || jobId.length() > 128) {
            jobId = KafkaRequestContract.derivedJobId(record);
        }
        String tenant = KafkaRequestContract.header(record, ContractHeaders.TENANT);
        long now = record.timestamp() > 0 ? record.timestamp() : 0;
        JobResult result = JobResult.newBuilder().setJobId(jobId).setTenant(tenant == null ? "" : tenant).setModel("")
                .setStatus(JobStatusCode.FAILED).setCorrelationId(correlation).setSubmittedAtMs(now).setFinishedAtMs(now)
                .setError(new JobError("invalid_request_error", why.errorCode() == null ? "invalid_request" : why.errorCode(),
                        why.errorMessage() == null ? "the request was refused" : why.errorMessage()))
                .build();
        boolean json = wantsJson(record);
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(replyTopic, jobId, json ? ResultRecords.json(result) : AVRO.encode(result));
        r.headers().add(ResultRecords.CONTENT_TYPE_HEADER, (json ? ResultRecords.JSON : ResultRecords.AVRO).getBytes(StandardCharsets.UTF_8));
        r.headers().add(io.inferq.job.JobHeaders.CORRELATION_ID, correlation.getBytes(StandardCharsets.UTF_8));
        r.headers().add("inferq-dead-lettered-to", TopicCatalogue.REQUESTS_DLQ.getBytes(StandardCharsets.UTF_8));
        return Optional.of(r);
    }

    /** Whether a request's result should be JSON: its {@value #RESULT_CONTENT_TYPE}, else whether the request is JSON. */
    static boolean wantsJson(ConsumerRecord<String, byte[]> record) {
        String asked = KafkaRequestContract.header(record, RESULT_CONTENT_TYPE);
        if (asked != null) {
            return asked.trim().toLowerCase(Locale.ROOT).startsWith(ResultRecords.JSON);
        }
        String ct = KafkaRequestContract.header(record, ContractHeaders.CONTENT_TYPE);
        if (ct != null) {
            return ct.trim().toLowerCase(Locale.ROOT).startsWith(ContractHeaders.JSON);
        }
        return looksLikeJson(record.value());
    }

    /** A value whose first non-blank byte is '{' (Avro single-object encoding starts with 0xC3 0x01). */
    static boolean looksLikeJson(byte[] value) {
        if (value == null) {
            return false;
        }
        for (byte b : value) {
            if (b == ' ' || b == '\n' || b == '\r' || b == '\t') {
                continue;
            }
            return b == '{';
        }
        return false;
    }
}
