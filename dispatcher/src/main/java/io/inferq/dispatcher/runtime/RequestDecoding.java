package io.inferq.dispatcher.runtime;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.job.outcome.DeadLetterHeaders;
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
     * A decoded request ({@link Accepted}), or why it goes to the dead-letter topic ({@link Rejected}). The accessors on
     * the interface answer null where the outcome has no such part, for callers that only look at one of them.
     */
    public sealed interface Result permits Result.Accepted, Result.Rejected {
        /**
         * @param request       the request
         * @param acceptedEvent a {@code queued} event the dispatcher must write (for requests that did not come through
         *                      the HTTP ingress), or null
         */
        record Accepted(JobRequest request, JobEvent acceptedEvent) implements Result {
            public Accepted {
                java.util.Objects.requireNonNull(request, "request");
            }
        }

        /** @param why the failure the dead-letter headers name (class, message, code) */
        record Rejected(DeadLetterHeaders.Failure why) implements Result {
            public Rejected {
                java.util.Objects.requireNonNull(why, "why");
            }

            @Override
            public String errorClass() {
                return why.errorClass();
            }

            @Override
            public String errorCode() {
                return why.code();
            }

            @Override
            public String errorMessage() {
                return why.message();
            }
        }

        static Result ok(JobRequest request) {
            return new Accepted(request, null);
        }

        static Result accepted(JobRequest request, JobEvent queued) {
            return new Accepted(request, queued);
        }

        static Result reject(String errorClass, String message) {
            return new Rejected(new DeadLetterHeaders.Failure(errorClass, message, null));
        }

        static Result reject(String errorClass, String errorCode, String message) {
            return new Rejected(new DeadLetterHeaders.Failure(errorClass, message, errorCode));
        }

        /** A request refused by a rule: the dead-letter headers name its kind's class and its code. */
        static Result reject(io.inferq.job.request.RequestError error) {
            return reject(error.kind().deadLetterClass(), error.code(), error.message());
        }

        /** @return the request, or null when rejected */
        default JobRequest request() {
            return null;
        }

        /** @return the {@code queued} event to write, or null */
        default JobEvent acceptedEvent() {
            return null;
        }

        /** @return the Java class name of the failure, for the DLQ header, or null when accepted */
        default String errorClass() {
            return null;
        }

        /** @return the OpenAI-style error code ({@code invalid_max_tokens}), or null */
        default String errorCode() {
            return null;
        }

        /** @return what was wrong, or null when accepted */
        default String errorMessage() {
            return null;
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
