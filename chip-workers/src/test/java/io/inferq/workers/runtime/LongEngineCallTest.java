package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.workers.backend.BatchWork;
import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.SequenceOutcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * An engine call longer than the slot's lease ({@code max.poll.interval.ms}): the slot keeps polling, paused, while
 * the engine works, so Kafka never takes it for a dead slot and the batch runs once. Real embedded broker; the engine
 * is a fake that takes longer than the lease.
 */
class LongEngineCallTest {
    private static final long LEASE_MS = 10_000;
    private static final long ENGINE_MS = LEASE_MS + 4_000;

    @Test
    void aGenerationLongerThanTheLeaseRunsOnceAndCommits() throws Exception {
        try (EmbeddedKafkaBroker broker = startBroker()) {
            KafkaClientSettings kafka = KafkaClientSettings.of(broker.bootstrapServers());
            AtomicInteger engineCalls = new AtomicInteger();
            PoolWorker worker = worker(kafka, "long-engine-a", engineCalls, new InMemoryTerminalClaims());
            worker.start();
            try {
                awaitReady(worker);
                sendBatch(kafka, "job_long");
                List<JobResult> results = readResults(kafka, Duration.ofSeconds(90), 1);
                assertThat(results).extracting(r -> r.getJobId().toString()).containsExactly("job_long");
                assertThat(engineCalls.get()).as("the batch ran once: its slot kept the lease").isEqualTo(1);
            } finally {
                worker.close();
            }
        }
    }

    /**
     * A second worker process joins while the first runs the batch: the rebalance may give the batch's partition to
     * either. If the newcomer gets it, it runs the batch again and the first, finding its partition gone after the
     * engine call, publishes nothing; if the first keeps it, it commits and does not read the batch again. One result.
     */
    @Test
    void aBatchWhosePartitionMovesDuringItsEngineCallGetsOneOutcome() throws Exception {
        try (EmbeddedKafkaBroker broker = startBroker()) {
            KafkaClientSettings kafka = KafkaClientSettings.of(broker.bootstrapServers());
            AtomicInteger engineCalls = new AtomicInteger();
            TerminalClaims shared = new InMemoryTerminalClaims(); // as the Hazelcast map is, for every process
            PoolWorker first = worker(kafka, "long-engine-first", engineCalls, shared);
            PoolWorker second = worker(kafka, "long-engine-second", engineCalls, shared);
            first.start();
            try {
                awaitReady(first);
                sendBatch(kafka, "job_moved");
                long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (engineCalls.get() == 0) {
                    assertThat(System.nanoTime()).as("the first engine call to start").isLessThan(until);
                    Thread.sleep(20);
                }
                second.start();
                List<JobResult> results = readResults(kafka, Duration.ofSeconds(90), 1);
                assertThat(results).extracting(r -> r.getJobId().toString()).containsExactly("job_moved");
                // a second run, had there been one publishing, ends at most one engine call later
                List<JobResult> later = readResults(kafka, Duration.ofMillis(ENGINE_MS + 5_000), 2);
                assertThat(later).as("one committed result for the job, whichever slot ran it").hasSize(1);
            } finally {
                second.close();
                first.close();
            }
        }
    }

    private static EmbeddedKafkaBroker startBroker() throws Exception {
        EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(Files.createTempDirectory("inferq-long-engine"), "127.0.0.1", 0, 0);
        broker.start(60_000);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(1, Map.of("slow", 1)));
        }
        return broker;
    }

    /** A worker process of pool "slow" with one slot (of two batches), whose engine takes longer than the lease. */
    private static PoolWorker worker(KafkaClientSettings kafka, String processId, AtomicInteger engineCalls, TerminalClaims claims) {
        InferenceBackend slowEngine = new InferenceBackend() {
            @Override
            public List<SequenceOutcome> run(BatchWork batch) throws InterruptedException {
                engineCalls.incrementAndGet();
                Thread.sleep(ENGINE_MS);
                long now = System.currentTimeMillis();
                List<SequenceOutcome> out = new ArrayList<>();
                batch.sequences().forEach(s -> out.add(new SequenceOutcome.Completed(s.jobId(), "done", "stop",
                        s.promptTokens(), 1, 0, now, now)));
                return out;
            }

            @Override
            public String describe() {
                return "slower than the lease (test)";
            }
        };
        return new PoolWorker(new PoolWorkerSettings("slow", "chip", processId, 1, 2, 3, LEASE_MS, 6_000),
                kafka, slowEngine, claims, PrefixCacheHook.NONE, TrustedOrigin.withSecret(new byte[32]),
                Clock.systemUTC(), new SimpleMeterRegistry());
    }

    private static void awaitReady(PoolWorker worker) throws InterruptedException {
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!worker.isReady()) {
            assertThat(System.nanoTime()).as("the slot to join its group").isLessThan(until);
            Thread.sleep(50);
        }
    }

    private static void sendBatch(KafkaClientSettings kafka, String jobId) throws Exception {
        JobRequest job = JobRequest.newBuilder().setJobId(jobId).setTenant("t").setModel("m")
                .setMessages(List.of(new ChatMessage("user", "think hard"))).setPromptTokens(3).setMaxTokens(4).build();
        PoolBatch batch = new PoolBatch("slow-" + jobId, "slow", 1024, System.currentTimeMillis(), List.of(job), null, -1, 1);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("long-engine-test"), new StringSerializer(),
                new ByteArraySerializer())) {
            p.send(new ProducerRecord<>(TopicCatalogue.poolTopic("slow"), 0, batch.getBatchId(),
                    new AvroSerde<>(PoolBatch.class).encode(batch))).get(10, TimeUnit.SECONDS);
        }
    }

    private static List<JobResult> readResults(KafkaClientSettings kafka, Duration timeout, int expected) {
        AvroSerde<JobResult> serde = new AvroSerde<>(JobResult.class);
        List<JobResult> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(kafka.consumer("long-engine-results", null),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(TopicCatalogue.RESULTS, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long until = System.nanoTime() + timeout.toNanos();
            while (out.size() < expected && System.nanoTime() < until) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out.add(serde.decode(r.value()));
                }
            }
        }
        return out;
    }
}
