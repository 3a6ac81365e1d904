package io.inferq.ingress.view;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.SharedKafkaBroker;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.JobStatus;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.broker.topics.TopicSpec;
import com.hazelcast.core.HazelcastInstance;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class JobEventsMaterializerTest {
    static final AvroSerde<JobEvent> SERDE = new AvroSerde<>(JobEvent.class);

    /** Records what it is given; says every event changed the view, or fails batches larger than one. */
    static class RecordingView extends EmptyJobView {
        final List<List<JobEvent>> calls = new CopyOnWriteArrayList<>();
        boolean failBatches;

        @Override
        public List<JobEvent> applyAll(List<JobEvent> events) {
            calls.add(List.copyOf(events));
            if (failBatches && events.size() > 1) {
                throw new IllegalStateException("store unavailable");
            }
            if (events.get(0).getJobId().equals("job_poison")) {
                throw new IllegalStateException("poison");
            }
            return events;
        }
    }

    static ConsumerRecord<String, byte[]> record(long offset, String key, byte[] value) {
        return new ConsumerRecord<>(TopicCatalogue.JOB_EVENTS, 0, offset, key, value);
    }

    static ConsumerRecord<String, byte[]> record(long offset, JobEvent e) {
        return record(offset, e.getJobId(), SERDE.encode(e));
    }

    @Test
    void appliesAPollBatchAtOnceAndCallsListenersForEachChangeInOrder() {
        RecordingView view = new RecordingView();
        JobEventsMaterializer m = new JobEventsMaterializer(KafkaClientSettings.of("127.0.0.1:1"), view);
        List<String> seen = new ArrayList<>();
        m.onChange(e -> {
            throw new IllegalStateException("a failing listener does not stop the others");
        });
        m.onChange(e -> seen.add(e.getJobId() + ":" + e.getStatus()));
        JobEvent qa = HazelcastJobViewTest.queued("job_a", "t", 1);
        JobEvent qb = HazelcastJobViewTest.queued("job_b", "t", 2);
        JobEvent sa = HazelcastJobViewTest.to(qa, JobStatus.CANCELLED, 3);

        m.applyRecords(List.of(record(0, qa), record(1, "job_x", null), record(2, "job_y", new byte[] {1, 2, 3}), record(3, qb),
                record(4, sa)));

        assertThat(view.calls).hasSize(1);
        assertThat(view.calls.get(0)).containsExactly(qa, qb, sa);
        assertThat(seen).containsExactly("job_a:QUEUED", "job_b:QUEUED", "job_a:CANCELLED");
        m.close();
    }

    @Test
    void whenABatchCannotBeAppliedItsEventsAreAppliedOneByOneAndAnEventThatKeepsFailingIsGivenUpAtLast() {
        RecordingView view = new RecordingView();
        view.failBatches = true;
        JobEventsMaterializer m = new JobEventsMaterializer(KafkaClientSettings.of("127.0.0.1:1"), view, Duration.ofMillis(250));
        List<String> seen = new ArrayList<>();
        m.onChange(e -> seen.add(e.getJobId()));
        JobEvent qa = HazelcastJobViewTest.queued("job_a", "t", 1);
        JobEvent poison = HazelcastJobViewTest.queued("job_poison", "t", 1);
        JobEvent qb = HazelcastJobViewTest.queued("job_b", "t", 2);

        m.applyRecords(List.of(record(0, qa), record(1, poison), record(2, qb)));

        assertThat(view.calls.get(0)).containsExactly(qa, poison, qb);
        assertThat(view.calls.stream().filter(c -> c.equals(List.of(poison))).count()).as("tried again before giving up")
                .isGreaterThanOrEqualTo(2);
        assertThat(seen).containsExactly("job_a", "job_b");
        m.close();
    }

    @Test
    void theJobsAWriteMissedAreAppliedAgainUntilTheStoreAnswers() {
        AtomicInteger failuresLeft = new AtomicInteger(2);
        RecordingView view = new RecordingView() {
            @Override
            public List<JobEvent> applyAll(List<JobEvent> events) {
                calls.add(List.copyOf(events));
                List<JobEvent> missed = events.stream().filter(e -> e.getJobId().equals("job_t")).toList();
                if (!missed.isEmpty() && failuresLeft.getAndDecrement() > 0) {
                    // the other jobs are written; job_t's write fails (a member leaving, say)
                    throw new JobView.NotAllApplied(events.stream().filter(e -> !missed.contains(e)).toList(), missed,
                            new IllegalStateException("member left"));
                }
                return events;
            }
        };
        JobEventsMaterializer m = new JobEventsMaterializer(KafkaClientSettings.of("127.0.0.1:1"), view, Duration.ofMinutes(1));
        List<String> seen = new ArrayList<>();
        m.onChange(e -> seen.add(e.getJobId() + ":" + e.getStatus()));
        JobEvent qa = HazelcastJobViewTest.queued("job_a", "t", 1);
        JobEvent qt = HazelcastJobViewTest.queued("job_t", "t", 1);
        JobEvent st = HazelcastJobViewTest.to(qt, JobStatus.SUCCEEDED, 2);

        m.applyRecords(List.of(record(0, qa), record(1, qt), record(2, st)));

        assertThat(seen).containsExactly("job_a:QUEUED", "job_t:QUEUED", "job_t:SUCCEEDED");
        assertThat(view.calls).hasSize(4); // the batch; job_t's queued fails once more, then applies; then its success
        m.close();
    }

    /** Against the real embedded broker and Hazelcast members: follow, replay on restart, concurrent materialisers. */
    @Test
    void rebuildsTheViewFromTheTopicAndConcurrentMaterialisersConverge() throws Exception {
        KafkaClientSettings kafka = KafkaClientSettings.of(SharedKafkaBroker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            TopicSpec spec = TopicCatalogue.topics(3, List.of()).stream().filter(t -> t.name().equals(TopicCatalogue.JOB_EVENTS))
                    .findFirst().orElseThrow();
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(List.of(spec));
        }
        String tenant = HazelcastJobViewTest.tenant();
        Random rnd = new Random(11);
        List<List<JobEvent>> perJob = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            perJob.add(HazelcastJobViewTest.lifecycle(HazelcastJobViewTest.jobId(), tenant, rnd, 50_000 + i));
        }
        Map<String, JobEvent> expected = new LinkedHashMap<>();
        try (var producer = new KafkaProducer<>(kafka.producer("materializer-test"), new StringSerializer(), new ByteArraySerializer())) {
            // round-robin over jobs: every job's events in order, jobs interleaved
            for (int step = 0; step < 10; step++) {
                for (List<JobEvent> job : perJob) {
                    if (step < job.size()) {
                        JobEvent e = job.get(step);
                        producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, e.getJobId(), SERDE.encode(e)));
                        JobEvent n = HazelcastJobView.step(expected.get(e.getJobId()), e);
                        if (n != null) {
                            expected.put(e.getJobId(), n);
                        }
                    }
                }
            }
            producer.flush();
        }
        long active = expected.values().stream().filter(e -> !JobStatus.fromWire(e.getStatus()).isTerminal()).count();

        HazelcastInstance first = TestMembers.newMember();
        HazelcastInstance second = TestMembers.newMember();
        try {
            // one materialiser builds the view; every completion reaches its listeners once
            HazelcastJobView view = new HazelcastJobView(first, Duration.ofHours(24));
            Map<String, AtomicInteger> completions = new ConcurrentHashMap<>();
            try (JobEventsMaterializer m = new JobEventsMaterializer(kafka, view)) {
                m.onChange(e -> {
                    if (e.getTenant().equals(tenant) && JobStatus.fromWire(e.getStatus()).isTerminal()) {
                        completions.computeIfAbsent(e.getJobId(), k -> new AtomicInteger()).incrementAndGet();
                    }
                });
                m.start();
                awaitCaughtUp(m);
                assertConverged(view, expected, tenant, active);
                assertThat(completions.keySet()).containsExactlyInAnyOrderElementsOf(expected.values().stream()
                        .filter(e -> JobStatus.fromWire(e.getStatus()).isTerminal()).map(JobEvent::getJobId).toList());
                assertThat(completions.values()).allMatch(c -> c.get() == 1);

                // a second process joins the same cluster and replays from the beginning over the live view
                HazelcastJobView joining = new HazelcastJobView(first, Duration.ofHours(24));
                try (JobEventsMaterializer m2 = new JobEventsMaterializer(kafka, joining)) {
                    m2.onChange(e -> {
                        if (e.getTenant().equals(tenant) && JobStatus.fromWire(e.getStatus()).isTerminal()) {
                            completions.computeIfAbsent(e.getJobId(), k -> new AtomicInteger()).incrementAndGet();
                        }
                    });
                    m2.start();
                    awaitCaughtUp(m2);
                }
                assertConverged(view, expected, tenant, active);
                assertThat(completions.values()).as("no completion is reported twice").allMatch(c -> c.get() == 1);
            }

            // a restart that lost Hazelcast: the replay rebuilds the same view
            HazelcastJobView rebuilt = new HazelcastJobView(second, Duration.ofHours(24));
            try (JobEventsMaterializer m = new JobEventsMaterializer(kafka, rebuilt)) {
                m.start();
                awaitCaughtUp(m);
                assertConverged(rebuilt, expected, tenant, active);
            }
        } finally {
            first.shutdown();
            second.shutdown();
        }
    }

    private static void awaitCaughtUp(JobEventsMaterializer m) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!m.isCaughtUp() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(m.isCaughtUp()).isTrue();
    }

    private static void assertConverged(HazelcastJobView view, Map<String, JobEvent> expected, String tenant, long active) {
        for (Map.Entry<String, JobEvent> e : expected.entrySet()) {
            JobEvent got = view.get(e.getKey());
            assertThat(got).as(e.getKey()).isNotNull();
            assertThat(got.getStatus()).as(e.getKey()).isEqualTo(e.getValue().getStatus());
            assertThat(got.getStateTimes()).as(e.getKey()).isEqualTo(e.getValue().getStateTimes());
        }
        assertThat(view.activeJobs(tenant)).isEqualTo(active);
    }
}
