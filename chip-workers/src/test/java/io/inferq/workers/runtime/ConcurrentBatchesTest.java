package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.job.TerminalClaims;
import io.inferq.workers.backend.BatchWork;
import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.SequenceOutcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A worker slot keeps several batches of its partition in flight: they run at once, each is published in its own
 * transaction when its engine call ends, the committed offset never passes an unfinished batch, and the batches finished
 * above it (named in the offset's metadata) are not run again after a restart. Real embedded broker; the engines are
 * fakes that block on latches the tests hold. Each test has a pool (topic, group) of its own.
 */
class ConcurrentBatchesTest {
    private static final Set<JobStatusCode> TERMINAL = EnumSet.of(JobStatusCode.SUCCEEDED, JobStatusCode.FAILED,
            JobStatusCode.EXPIRED, JobStatusCode.CANCELLED);
    /** A topic a second member of a pool's group reads, so that it joins the group without taking the pool's partition. */
    private static final String OTHER_TOPIC = "it.concurrent.other";
    private static EmbeddedKafkaBroker broker;
    private static KafkaClientSettings kafka;
    private static Admin admin;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = new EmbeddedKafkaBroker(Files.createTempDirectory("inferq-concurrent-batches"), "127.0.0.1", 0, 0);
        broker.start(60_000);
        kafka = KafkaClientSettings.of(broker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        admin = Admin.create(ap);
        new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(1, Map.of("conc", 1, "order", 1, "restart", 1,
                "keep", 1)));
        admin.createTopics(List.of(new NewTopic(OTHER_TOPIC, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopBroker() {
        if (admin != null) {
            admin.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    /**
     * The first batch's engine call ends only once the second batch's call has ended: one slot, one partition. A slot
     * that runs one batch at a time never starts the second while the first runs, so the first gives up waiting.
     */
    @Test
    void twoBatchesOfOnePartitionRunAtOnce() throws Exception {
        CountDownLatch secondEnded = new CountDownLatch(1);
        AtomicBoolean firstSawSecondEnd = new AtomicBoolean();
        PoolWorker worker = worker("conc", "conc-test", 2, batch -> {
            if (batch.batchId().equals("conc-1")) {
                firstSawSecondEnd.set(secondEnded.await(20, TimeUnit.SECONDS));
            } else {
                secondEnded.countDown();
            }
        }, new InMemoryTerminalClaims());
        worker.start();
        try {
            awaitReady(worker);
            send("conc", "conc-1", "job_conc_1");
            send("conc", "conc-2", "job_conc_2");
            Map<String, List<ConsumerRecord<String, byte[]>>> results = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_conc_"),
                    Set.of("job_conc_1", "job_conc_2"), Duration.ofSeconds(60));
            assertThat(results).containsOnlyKeys("job_conc_1", "job_conc_2");
            assertThat(firstSawSecondEnd).as("the second batch ran while the first was still running").isTrue();
        } finally {
            worker.close();
        }
    }

    /**
     * The later batch finishes first: its result is committed at once, while the committed offset stays at the first
     * (unfinished) batch and its metadata names the second as done; when the first finishes, the offset moves past both.
     */
    @Test
    void aLaterBatchFinishingFirstIsPublishedAndTheOffsetWaitsForTheFirst() throws Exception {
        CountDownLatch releaseFirst = new CountDownLatch(1);
        PoolWorker worker = worker("order", "order-test", 2, batch -> {
            if (batch.batchId().equals("order-1")) {
                assertThat(releaseFirst.await(60, TimeUnit.SECONDS)).isTrue();
            }
        }, new InMemoryTerminalClaims());
        worker.start();
        try {
            awaitReady(worker);
            long first = send("order", "order-1", "job_order_1");
            long second = send("order", "order-2", "job_order_2");
            Map<String, List<ConsumerRecord<String, byte[]>>> early = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_order_"),
                    Set.of("job_order_2"), Duration.ofSeconds(60));
            assertThat(early).as("the second batch's result, before the first batch ends").containsOnlyKeys("job_order_2");
            OffsetAndMetadata committed = committed("order");
            assertThat(committed.offset()).as("never past the unfinished first batch").isEqualTo(first);
            assertThat(DoneOffsets.decode(committed.offset(), committed.metadata())).containsExactly(second);

            releaseFirst.countDown();
            Map<String, List<ConsumerRecord<String, byte[]>>> all = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_order_"),
                    Set.of("job_order_1", "job_order_2"), Duration.ofSeconds(60));
            assertThat(all).containsOnlyKeys("job_order_1", "job_order_2");
            assertThat(all.values()).allSatisfy(rs -> assertThat(rs).hasSize(1));
            OffsetAndMetadata after = committed("order");
            assertThat(after.offset()).isEqualTo(second + 1);
            assertThat(after.metadata()).isEmpty();
        } finally {
            releaseFirst.countDown();
            worker.close();
        }
    }

    /**
     * Crash after the second batch committed while the first still runs: the worker is stopped past its grace period, so
     * the first batch is handed back uncommitted. A new incarnation (same process id, so it fences the old transactions)
     * runs the first batch and not the second: every job has exactly one result and one terminal event.
     */
    @Test
    void afterARestartTheUnfinishedBatchRunsAndTheDoneOneDoesNot() throws Exception {
        TerminalClaims claims = new InMemoryTerminalClaims(); // as the Hazelcast map is, for every incarnation
        CountDownLatch never = new CountDownLatch(1);
        CountDownLatch firstStarted = new CountDownLatch(1);
        PoolWorker crashing = worker("restart", "restart-test", 2, batch -> {
            if (batch.batchId().equals("restart-1")) {
                firstStarted.countDown();
                never.await(); // until interrupted: the stop past the grace period
            }
        }, claims);
        crashing.start();
        long first;
        try {
            awaitReady(crashing);
            first = send("restart", "restart-1", "job_restart_1");
            assertThat(firstStarted.await(30, TimeUnit.SECONDS)).isTrue();
            send("restart", "restart-2", "job_restart_2");
            assertThat(read(TopicCatalogue.RESULTS, k -> k.startsWith("job_restart_"), Set.of("job_restart_2"), Duration.ofSeconds(60)))
                    .containsOnlyKeys("job_restart_2");
        } finally {
            crashing.close(500);
        }
        assertThat(committed("restart").offset()).as("the unfinished batch was not committed").isEqualTo(first);

        Map<String, Integer> reruns = new ConcurrentHashMap<>();
        PoolWorker restarted = worker("restart", "restart-test", 2, batch -> batch.sequences()
                .forEach(s -> reruns.merge(s.jobId(), 1, Integer::sum)), claims);
        restarted.start();
        try {
            Set<String> jobs = Set.of("job_restart_1", "job_restart_2");
            Map<String, List<ConsumerRecord<String, byte[]>>> results = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_restart_"),
                    jobs, Duration.ofSeconds(90));
            assertThat(results).containsOnlyKeys(jobs);
            assertThat(results.values()).as("one result per job").allSatisfy(rs -> assertThat(rs).hasSize(1));
            assertThat(reruns).as("the done batch is not run again").containsOnlyKeys("job_restart_1");
            Map<String, List<ConsumerRecord<String, byte[]>>> events = read(TopicCatalogue.JOB_EVENTS,
                    k -> k.startsWith("job_restart_"), jobs, Duration.ofSeconds(30));
            AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
            for (String job : jobs) {
                assertThat(events.get(job).stream().filter(r -> TERMINAL.contains(serde.decode(r.value()).getStatus())).count())
                        .as("terminal events of %s", job).isEqualTo(1);
            }
        } finally {
            restarted.close();
        }
    }

    /**
     * A rebalance while a batch runs that gives the slot its partition back, its committed offset unchanged: the slot keeps
     * the batch in flight (it is neither orphaned nor read and run again) and publishes it when it ends. The rebalance
     * comes from a second member joining the pool's group for another topic (range assignment: every member revokes
     * everything first, and the slot gets the pool's partition again). A batch sent after the rebalance runs too.
     */
    @Test
    void aPartitionGivenBackUnchangedKeepsItsBatchesInFlight() throws Exception {
        CountDownLatch releaseFirst = new CountDownLatch(1);
        CountDownLatch firstStarted = new CountDownLatch(1);
        Map<String, Integer> runs = new ConcurrentHashMap<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        PoolWorker worker = worker("keep", "keep-test", 2, batch -> {
            runs.merge(batch.batchId(), 1, Integer::sum);
            if (batch.batchId().equals("keep-1")) {
                firstStarted.countDown();
                assertThat(releaseFirst.await(60, TimeUnit.SECONDS)).isTrue();
            }
        }, new InMemoryTerminalClaims(), registry);
        worker.start();
        Properties jp = kafka.consumer("keep-joiner", "inferq.pool.keep.workers");
        jp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        jp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "2000");
        try (KafkaConsumer<String, byte[]> joiner = new KafkaConsumer<>(jp, new StringDeserializer(), new ByteArrayDeserializer())) {
            awaitReady(worker);
            send("keep", "keep-1", "job_keep_1");
            assertThat(firstStarted.await(30, TimeUnit.SECONDS)).isTrue();
            joiner.subscribe(List.of(OTHER_TOPIC));
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (joiner.assignment().isEmpty()) {
                assertThat(System.nanoTime()).as("the rebalance to end").isLessThan(until);
                joiner.poll(Duration.ofMillis(100));
            }
            assertThat(joiner.assignment()).containsExactly(new TopicPartition(OTHER_TOPIC, 0));
            awaitReady(worker);
            send("keep", "keep-2", "job_keep_2");
            Map<String, List<ConsumerRecord<String, byte[]>>> early = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_keep_"),
                    Set.of("job_keep_2"), Duration.ofSeconds(60));
            assertThat(early).as("the batch sent after the rebalance, beside the kept one").containsOnlyKeys("job_keep_2");
            assertThat(registry.get("inferq.worker.busy_slots").gauge().value()).as("batches in flight").isEqualTo(1.0);
            assertThat(registry.get("inferq.worker.batch_capacity").gauge().value()).isEqualTo(2.0);
            releaseFirst.countDown();
            Map<String, List<ConsumerRecord<String, byte[]>>> all = read(TopicCatalogue.RESULTS, k -> k.startsWith("job_keep_"),
                    Set.of("job_keep_1", "job_keep_2"), Duration.ofSeconds(60));
            assertThat(all).containsOnlyKeys("job_keep_1", "job_keep_2");
            assertThat(all.values()).allSatisfy(rs -> assertThat(rs).hasSize(1));
            assertThat(runs).as("each batch ran once").isEqualTo(Map.of("keep-1", 1, "keep-2", 1));
            assertThat(registry.counter("inferq.worker.orphaned_batches", "pool", "keep").count()).isZero();
            assertThat(registry.get("inferq.worker.busy_slots").gauge().value()).isZero();
            OffsetAndMetadata committed = committed("keep");
            assertThat(committed.metadata()).isEmpty();
        } finally {
            releaseFirst.countDown();
            worker.close();
        }
    }

    /** What a fake engine does with a batch before it completes its sequences ("done"). */
    private interface EngineStep {
        void run(BatchWork batch) throws InterruptedException;
    }

    private static PoolWorker worker(String pool, String processId, int batchesPerSlot, EngineStep step, TerminalClaims claims) {
        return worker(pool, processId, batchesPerSlot, step, claims, new SimpleMeterRegistry());
    }

    private static PoolWorker worker(String pool, String processId, int batchesPerSlot, EngineStep step, TerminalClaims claims,
            SimpleMeterRegistry registry) {
        InferenceBackend engine = new InferenceBackend() {
            @Override
            public List<SequenceOutcome> run(BatchWork batch) throws InterruptedException {
                step.run(batch);
                long now = System.currentTimeMillis();
                List<SequenceOutcome> out = new ArrayList<>();
                batch.sequences().forEach(s -> out.add(new SequenceOutcome.Completed(s.jobId(), "done", "stop",
                        s.promptTokens(), 1, 0, now, now)));
                return out;
            }

            @Override
            public String describe() {
                return "test engine";
            }
        };
        return new PoolWorker(new PoolWorkerSettings(pool, "chip", processId, 1, batchesPerSlot, 3, 10_000, 6_000), kafka, engine,
                claims, PrefixCacheHook.NONE, TrustedOrigin.withSecret(new byte[32]), Clock.systemUTC(), registry);
    }

    private static void awaitReady(PoolWorker worker) throws InterruptedException {
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!worker.isReady()) {
            assertThat(System.nanoTime()).as("the slot to join its group").isLessThan(until);
            Thread.sleep(50);
        }
    }

    /** @return the batch's offset on partition 0 of the pool's topic */
    private static long send(String pool, String batchId, String jobId) throws Exception {
        JobRequest job = JobRequest.newBuilder().setJobId(jobId).setTenant("t").setModel("m")
                .setMessages(List.of(new ChatMessage("user", "hello"))).setPromptTokens(3).setMaxTokens(4).build();
        PoolBatch batch = new PoolBatch(batchId, pool, 1024, System.currentTimeMillis(), List.of(job), null, -1, 1);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("concurrent-batches-test"), new StringSerializer(),
                new ByteArraySerializer())) {
            return p.send(new ProducerRecord<>(TopicCatalogue.poolTopic(pool), 0, batchId, new AvroSerde<>(PoolBatch.class).encode(batch)))
                    .get(10, TimeUnit.SECONDS).offset();
        }
    }

    /** The pool group's committed offset of partition 0 (stable: no transaction of it pending). */
    private static OffsetAndMetadata committed(String pool) throws Exception {
        String group = "inferq.pool." + pool + ".workers";
        return admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
                .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS).get(new TopicPartition(TopicCatalogue.poolTopic(pool), 0));
    }

    /**
     * Committed records of {@code topic} whose key {@code mine} accepts, by key, read until every key of {@code expected}
     * is there, then one more second, so that a duplicate would show.
     */
    private static Map<String, List<ConsumerRecord<String, byte[]>>> read(String topic, Predicate<String> mine, Set<String> expected,
            Duration timeout) {
        Map<String, List<ConsumerRecord<String, byte[]>>> out = new HashMap<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(kafka.consumer("concurrent-reader-" + System.nanoTime(), null),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream().map(pi -> new TopicPartition(topic, pi.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long until = System.nanoTime() + timeout.toNanos();
            long settle = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(until, settle)) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
                    if (r.key() != null && mine.test(r.key())) {
                        out.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r);
                    }
                }
                if (settle == Long.MAX_VALUE && out.keySet().containsAll(expected)) {
                    settle = System.nanoTime() + Duration.ofSeconds(1).toNanos();
                }
            }
        }
        return out;
    }
}
