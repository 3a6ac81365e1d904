package io.inferq.job.outcome;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.ResultRecords;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes a job's terminal outcome: its terminal {@code JobEvent} on {@code inferq.job-events} and its result
 * ({@link ResultRecords}: Avro or JSON, with the content-type and correlation headers) on its reply topic or
 * {@code inferq.results}. Every place that ends a job outside a worker's transaction writes through here: a cancel
 * through the API, an expiry or a refusal in the dispatcher, a batch's cancel or expiry. (A worker writes its outcomes
 * in its batch's Kafka transaction, with {@link #eventRecord} and {@link #resultTopic}.)
 *
 * <p><b>Failures.</b> Each record is written on its own until Kafka acknowledges it:
 * <ul>
 *   <li>a result that a reply topic refuses (deleted since intake, not authorised, ...) goes to {@code inferq.results}
 *       instead, once, without counting as an attempt — so a producer's topic never stalls a job's outcome;</li>
 *   <li>a retriable error ({@link RetriableException}) is tried again after {@link Policy#backoff()}, up to
 *       {@link Policy#maxAttempts()};</li>
 *   <li>a permanent error (record too large, not authorised), or the last attempt failing, gives the record up: it is
 *       reported in {@link Written#givenUp()} and to {@link Listener#givenUp}, and the caller decides what that
 *       means.</li>
 * </ul>
 * A write that failed with a timeout may have landed, so a retry can duplicate it (consumers keep the first per job).
 * While {@code active} answers false (the owner stopped), a failed record is neither retried nor reported: the write
 * stays open, and what it belongs to is redone after a restart.
 *
 * <p><b>Threading.</b> Every decision and every completion runs through {@link Transport#schedule}, on the owner's
 * thread or context; nothing runs on the producer's I/O thread. Thread-safe otherwise (no shared mutable state).
 */
public final class TerminalOutcomeWriter {
    private static final Logger LOG = LoggerFactory.getLogger(TerminalOutcomeWriter.class);
    private static final AvroSerde<JobEvent> EVENT_SERDE = new AvroSerde<>(JobEvent.class);

    /** How records reach Kafka, and where the writer's continuations run. */
    public interface Transport {
        /**
         * Sends one record. The stage completes, on any thread, with the acknowledgement or the failure (a send refused
         * at once included); it may block the calling thread as {@code Producer.send} does.
         */
        CompletionStage<?> send(ProducerRecord<String, byte[]> record);

        /** Runs {@code task} on the owner's thread or context after {@code delayMs} (0: as soon as it can). */
        void schedule(long delayMs, Runnable task);

        /**
         * A transport from its parts.
         *
         * @param send  sends one record (see {@link #send})
         * @param home  runs a task on the owner's thread or context
         * @param timer runs a task after a delay in milliseconds, on any thread (it is handed to {@code home} then)
         */
        static Transport of(Function<ProducerRecord<String, byte[]>, CompletionStage<?>> send, Executor home,
                BiConsumer<Long, Runnable> timer) {
            return new Transport() {
                @Override
                public CompletionStage<?> send(ProducerRecord<String, byte[]> record) {
                    return send.apply(record);
                }

                @Override
                public void schedule(long delayMs, Runnable task) {
                    if (delayMs <= 0) {
                        home.execute(task);
                    } else {
                        timer.accept(delayMs, () -> home.execute(task));
                    }
                }
            };
        }
    }

    /** Told of retries and of records given up, on the owner's thread (for metrics). */
    public interface Listener {
        default void retrying(ProducerRecord<String, byte[]> record, Throwable cause, long delayMs) {
        }

        default void givenUp(ProducerRecord<String, byte[]> record, Throwable cause) {
        }
    }

    /**
     * @param backoff     the delay before trying a record again
     * @param maxAttempts attempts per record before giving it up; {@link Integer#MAX_VALUE}: as long as the owner runs
     */
    public record Policy(Backoff backoff, int maxAttempts) {
        /** Until acknowledged, 500 ms doubling to 30 s between attempts: a consumer whose offset waits for the write. */
        public static final Policy UNTIL_ACKNOWLEDGED = new Policy(new Backoff(500, 30_000), Integer.MAX_VALUE);
        /** One attempt (plus the fallback from a reply topic): a caller that answers a client who can call again. */
        public static final Policy ONCE = new Policy(new Backoff(500, 30_000), 1);

        public Policy {
            Objects.requireNonNull(backoff, "backoff");
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
            }
        }
    }

    /** A record not written: its topic and key, and why. */
    public record GivenUp(String topic, String key, Throwable cause) {
    }

    /** The outcome of {@link #write}: every record acknowledged when {@link #givenUp()} is empty. */
    public record Written(JobEvent terminal, List<GivenUp> givenUp) {
        public boolean complete() {
            return givenUp.isEmpty();
        }
    }

    private final Transport transport;
    private final Policy policy;
    private final Listener listener;
    private final BooleanSupplier active;

    /**
     * @param active whether the owner still runs; while false a failed record is left as it is (see the class comment)
     */
    public TerminalOutcomeWriter(Transport transport, Policy policy, Listener listener, BooleanSupplier active) {
        this.transport = Objects.requireNonNull(transport, "transport");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.listener = listener == null ? new Listener() { } : listener;
        this.active = active == null ? () -> true : active;
    }

    /** The topic a terminal job's result goes to: its reply topic, unless it has none or it is one of Kafka's internal ones. */
    public static String resultTopic(JobEvent terminal) {
        String reply = terminal.getReplyTopic();
        // Kafka's internal topics (refused at intake, but a record may predate that) take no client's records
        return reply != null && !reply.isBlank() && !reply.startsWith("__") ? reply : TopicCatalogue.RESULTS;
    }

    /** The terminal event's record on {@code inferq.job-events}, keyed by job id. */
    public static ProducerRecord<String, byte[]> eventRecord(JobEvent terminal) {
        return new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, terminal.getJobId(), EVENT_SERDE.encode(terminal));
    }

    /**
     * Writes {@code terminal}'s event and result. The stage completes through {@link Transport#schedule} once both
     * records are acknowledged or given up; a terminal event that cannot even be encoded completes at once, given up.
     */
    public CompletionStage<Written> write(JobEvent terminal) {
        List<ProducerRecord<String, byte[]>> records;
        try {
            records = List.of(eventRecord(terminal), ResultRecords.record(resultTopic(terminal), terminal));
        } catch (RuntimeException e) {
            LOG.error("terminal outcome of {} not encodable; given up", terminal.getJobId(), e);
            CompletableFuture<Written> done = new CompletableFuture<>();
            GivenUp g = new GivenUp(TopicCatalogue.JOB_EVENTS, terminal.getJobId(), e);
            transport.schedule(0, () -> done.complete(new Written(terminal, List.of(g))));
            return done;
        }
        List<CompletableFuture<GivenUp>> each = new ArrayList<>(records.size());
        records.forEach(r -> each.add(deliver(r).toCompletableFuture()));
        return CompletableFuture.allOf(each.toArray(CompletableFuture[]::new)).thenApply(v -> {
            List<GivenUp> givenUp = new ArrayList<>();
            each.forEach(f -> {
                GivenUp g = f.join();
                if (g != null) {
                    givenUp.add(g);
                }
            });
            return new Written(terminal, List.copyOf(givenUp));
        });
    }

    /**
     * Writes one record with this writer's failure handling (see the class comment). The stage completes through
     * {@link Transport#schedule}: with null once acknowledged, or with what was given up.
     */
    public CompletionStage<GivenUp> deliver(ProducerRecord<String, byte[]> record) {
        CompletableFuture<GivenUp> done = new CompletableFuture<>();
        attempt(record, 0, done);
        return done;
    }

    private void attempt(ProducerRecord<String, byte[]> record, int attempt, CompletableFuture<GivenUp> done) {
        CompletionStage<?> sent;
        try {
            sent = transport.send(record);
        } catch (RuntimeException e) {
            sent = CompletableFuture.failedFuture(e);
        }
        sent.whenComplete((ack, ex) -> {
            try {
                transport.schedule(0, () -> settled(record, attempt, unwrap(ex), done));
            } catch (RuntimeException closed) {
                // the owner's executor is shut down: it stopped, and what the write belongs to is redone after a restart
                LOG.debug("write to {} (key {}) settled after its owner stopped", record.topic(), record.key());
            }
        });
    }

    private void settled(ProducerRecord<String, byte[]> record, int attempt, Throwable ex, CompletableFuture<GivenUp> done) {
        if (ex == null) {
            done.complete(null);
            return;
        }
        if (!active.getAsBoolean()) {
            return; // stopped: what the write belongs to is redone after a restart
        }
        if (!record.topic().startsWith("inferq.")) {
            // a reply topic (deleted since intake, or refused): the result goes to the default results topic, as a
            // worker's would, rather than waiting on the reply topic's metadata at every retry
            LOG.warn("result for {} not written to reply topic {} ({}); writing it to {}", record.key(), record.topic(),
                    ex.toString(), TopicCatalogue.RESULTS);
            attempt(new ProducerRecord<>(TopicCatalogue.RESULTS, null, record.key(), record.value(), record.headers()), attempt, done);
            return;
        }
        if (!(ex instanceof RetriableException) || attempt + 1 >= policy.maxAttempts()) {
            // permanent (too large, not authorised, ...) or out of attempts: trying again cannot help, or may not wait
            LOG.error("write to {} (key {}) failed for good: {}; given up", record.topic(), record.key(), ex.toString());
            listener.givenUp(record, ex);
            done.complete(new GivenUp(record.topic(), record.key(), ex));
            return;
        }
        long delay = policy.backoff().delayMs(attempt);
        LOG.warn("write to {} (key {}) failed: {}; trying again in {} ms", record.topic(), record.key(), ex.toString(), delay);
        listener.retrying(record, ex, delay);
        transport.schedule(delay, () -> attempt(record, attempt + 1, done));
    }

    private static Throwable unwrap(Throwable ex) {
        while (ex instanceof java.util.concurrent.CompletionException && ex.getCause() != null) {
            ex = ex.getCause();
        }
        return ex;
    }

    /** {@code producer.send} as a stage; a send refused at once is a failed stage. */
    public static CompletionStage<org.apache.kafka.clients.producer.RecordMetadata> send(Producer<String, byte[]> producer,
            ProducerRecord<String, byte[]> record) {
        CompletableFuture<org.apache.kafka.clients.producer.RecordMetadata> acked = new CompletableFuture<>();
        try {
            producer.send(record, (md, ex) -> {
                if (ex != null) {
                    acked.completeExceptionally(ex);
                } else {
                    acked.complete(md);
                }
            });
        } catch (RuntimeException e) {
            acked.completeExceptionally(e);
        }
        return acked;
    }
}
