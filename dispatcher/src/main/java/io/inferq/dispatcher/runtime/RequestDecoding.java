package io.inferq.dispatcher.runtime;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Decodes records of the request topics. {@link #avroOnly()} accepts inferq's own Avro requests
 * (written by the HTTP ingress) and is meant for tests; the server wires the Kafka contract's decoder
 * ({@link io.inferq.dispatcher.runtime.contract.KafkaRequestContract}: JSON or Avro from any producer,
 * with tenant headers).
 */
public final class RequestDecoding {
    private RequestDecoding() {
    }

    /**
     * A decoded request, or why it goes to the dead-letter topic.
     *
     * @param request       the request, or null when rejected
     * @param acceptedEvent a {@code queued} event the dispatcher must write (for requests that did not
     *                      come through the HTTP ingress), or null
     * @param errorClass    Java class name of the failure, for the DLQ header
     * @param errorCode     OpenAI-style error code ({@code invalid_max_tokens}), for the DLQ header; may be null
     * @param errorMessage  what was wrong
     */
    public record Result(JobRequest request, JobEvent acceptedEvent, String errorClass, String errorCode, String errorMessage) {
        public static Result ok(JobRequest request) {
            return new Result(request, null, null, null, null);
        }

        public static Result accepted(JobRequest request, JobEvent queued) {
            return new Result(request, queued, null, null, null);
        }

        public static Result reject(String errorClass, String message) {
            return new Result(null, null, errorClass, null, message);
        }

        public static Result reject(String errorClass, String errorCode, String message) {
            return new Result(null, null, errorClass, errorCode, message);
        }

        /** A request refused by a rule: the dead-letter headers name its kind's class and its code. */
        public static Result reject(io.inferq.job.request.RequestError error) {
            return new Result(null, null, error.kind().deadLetterClass(), error.code(), error.message());
        }
    }

    /** Avro single-object {@link JobRequest}s only. Thread-safe. */
    public static java.util.function.Function<ConsumerRecord<String, byte[]>, Result> avroOnly() {
        AvroSerde<JobRequest> serde = new AvroSerde<>(JobRequest.class);
        return record -> {
            if (record.value() == null) {
                return Result.reject("io.inferq.InvalidRequest", "empty record value");
            }
            try {
                return Result.ok(serde.decode(record.value()));
            } catch (AvroSerde.AvroDecodeException e) {
                return Result.reject(AvroSerde.AvroDecodeException.class.getName(), e.getMessage());
            }
        };
    }
}
