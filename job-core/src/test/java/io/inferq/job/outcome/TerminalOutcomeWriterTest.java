package io.inferq.job.outcome;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.JobHeaders;
import io.inferq.job.JobLane;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.ResultRecords;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** The one terminal-outcome writer, against Kafka's {@link MockProducer} and a hand-driven timer (no waiting). */
class TerminalOutcomeWriterTest {
    private final MockProducer<String, byte[]> producer = new MockProducer<>(false, null, new StringSerializer(),
            new ByteArraySerializer());
    /** Delayed tasks, run by hand; tasks without delay run at once (the "owner's thread" is the test's). */
    private final ArrayDeque<Runnable> later = new ArrayDeque<>();
    private final List<Long> delays = new ArrayList<>();
    private final List<String> givenUp = new ArrayList<>();
    private final AtomicBoolean active = new AtomicBoolean(true);

    private TerminalOutcomeWriter writer(TerminalOutcomeWriter.Policy policy) {
        return new TerminalOutcomeWriter(TerminalOutcomeWriter.Transport.of(r -> TerminalOutcomeWriter.send(producer, r), Runnable::run,
                (ms, task) -> {
                    delays.add(ms);
                    later.add(task);
                }), policy, new TerminalOutcomeWriter.Listener() {
                    @Override
                    public void givenUp(ProducerRecord<String, byte[]> record, Throwable cause) {
                        givenUp.add(record.topic());
                    }
                }, active::get);
    }

    private static JobEvent cancelled(String replyTopic) {
        JobEvent queued = JobEvent.newBuilder().setJobId("job_1").setTenant("acme").setModel("m").setStatus(JobStatus.QUEUED.toWire())
                .setAtMs(1_000L).setLane(JobLane.INTERACTIVE.toWire()).setStateTimes(new HashMap<>()).setSource("kafka")
                .setCorrelationId("c-1").setReplyTopic(replyTopic).build();
        return JobSnapshots.withError(JobSnapshots.advance(queued, JobStatus.CANCELLED, 2_000L), "invalid_request_error", "cancelled",
                "the job was cancelled through the API");
    }

    private static String header(ProducerRecord<String, byte[]> r, String key) {
        var h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    @Test
    void writesTheEventAndTheResultWithItsHeadersToTheReplyTopic() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.ONCE).write(cancelled("replies"))
                .toCompletableFuture();
        assertThat(w).isNotDone();
        producer.completeNext();
        producer.completeNext();
        assertThat(w.join().complete()).isTrue();
        List<ProducerRecord<String, byte[]>> sent = producer.history();
        assertThat(sent).extracting(ProducerRecord::topic).containsExactly(TopicCatalogue.JOB_EVENTS, "replies");
        assertThat(sent).extracting(ProducerRecord::key).containsOnly("job_1");
        assertThat(header(sent.get(1), JobHeaders.CORRELATION_ID)).isEqualTo("c-1");
        assertThat(header(sent.get(1), JobHeaders.CONTENT_TYPE)).isEqualTo(ResultRecords.AVRO);
        assertThat(ResultRecords.decode(sent.get(1).value()).getError().getCode()).isEqualTo("cancelled");
    }

    /**
     * The API's cancel used to send the result to the reply topic only, so a Kafka job whose reply topic had been deleted
     * (or was refused) could never be cancelled (503 on every call); the dispatcher already fell back to
     * {@code inferq.results}. Now every writer falls back, even with a single attempt.
     */
    @Test
    void aResultTheReplyTopicRefusesGoesToTheResultsTopicEvenWithOneAttempt() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.ONCE).write(cancelled("gone"))
                .toCompletableFuture();
        producer.completeNext(); // the event
        producer.errorNext(new UnknownTopicOrPartitionException("gone")); // the result, on the reply topic
        assertThat(w).isNotDone();
        producer.completeNext(); // the result again, on inferq.results
        assertThat(w.join().complete()).isTrue();
        ProducerRecord<String, byte[]> fallback = producer.history().get(2);
        assertThat(fallback.topic()).isEqualTo(TopicCatalogue.RESULTS);
        assertThat(header(fallback, JobHeaders.CORRELATION_ID)).isEqualTo("c-1");
        assertThat(delays).isEmpty();
    }

    /** The API's cancel wrote to Kafka's internal topics as given; the dispatcher never did. Nobody does now. */
    @Test
    void anInternalReplyTopicIsNeverWritten() {
        writer(TerminalOutcomeWriter.Policy.ONCE).write(cancelled("__consumer_offsets"));
        assertThat(producer.history()).extracting(ProducerRecord::topic).containsExactly(TopicCatalogue.JOB_EVENTS, TopicCatalogue.RESULTS);
        assertThat(TerminalOutcomeWriter.resultTopic(cancelled(null))).isEqualTo(TopicCatalogue.RESULTS);
    }

    @Test
    void aTransientFailureIsRetriedWithADoublingDelayUntilAcknowledged() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.UNTIL_ACKNOWLEDGED)
                .write(cancelled(null)).toCompletableFuture();
        producer.errorNext(new NotEnoughReplicasException("isr")); // event
        producer.completeNext(); // result
        for (int i = 0; i < 3; i++) {
            later.poll().run();
            producer.errorNext(new NotEnoughReplicasException("isr"));
        }
        later.poll().run();
        assertThat(w).isNotDone();
        producer.completeNext();
        assertThat(w.join().complete()).isTrue();
        assertThat(delays).containsExactly(500L, 1_000L, 2_000L, 4_000L);
        assertThat(givenUp).isEmpty();
    }

    @Test
    void aPermanentFailureIsGivenUpAtOnceAndReported() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.UNTIL_ACKNOWLEDGED)
                .write(cancelled(null)).toCompletableFuture();
        producer.errorNext(new RecordTooLargeException("too large"));
        producer.completeNext();
        TerminalOutcomeWriter.Written written = w.join();
        assertThat(written.complete()).isFalse();
        assertThat(written.givenUp()).extracting(TerminalOutcomeWriter.GivenUp::topic).containsExactly(TopicCatalogue.JOB_EVENTS);
        assertThat(givenUp).containsExactly(TopicCatalogue.JOB_EVENTS);
        assertThat(delays).isEmpty();
    }

    @Test
    void withOneAttemptATransientFailureIsGivenUp() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.ONCE).write(cancelled(null))
                .toCompletableFuture();
        producer.completeNext();
        producer.errorNext(new NotEnoughReplicasException("isr"));
        assertThat(w.join().givenUp()).extracting(TerminalOutcomeWriter.GivenUp::topic).containsExactly(TopicCatalogue.RESULTS);
    }

    @Test
    void aStoppedOwnerNeitherRetriesNorReports() {
        CompletableFuture<TerminalOutcomeWriter.Written> w = writer(TerminalOutcomeWriter.Policy.UNTIL_ACKNOWLEDGED)
                .write(cancelled(null)).toCompletableFuture();
        active.set(false);
        producer.errorNext(new NotEnoughReplicasException("isr"));
        producer.completeNext();
        assertThat(w).isNotDone();
        assertThat(later).isEmpty();
        assertThat(givenUp).isEmpty();
    }

    @Test
    void backoffDoublesUpToItsMaximum() {
        Backoff b = new Backoff(200, 5_000);
        assertThat(List.of(b.delayMs(0), b.delayMs(1), b.delayMs(4), b.delayMs(5), b.delayMs(40)))
                .containsExactly(200L, 400L, 3_200L, 5_000L, 5_000L);
    }
}
