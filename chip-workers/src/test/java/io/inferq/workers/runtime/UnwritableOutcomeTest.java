package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.job.JobHeaders;
import io.inferq.job.outcome.DeadLetterHeaders;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.workers.backend.BatchWork;
import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.SequenceOutcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 13, defect 1: a job whose outcome can never be written — its reply topic is one of Kafka's internal topics, or
 * its result is larger than the reply topic accepts — fails on its own (a {@code failed} result with a clear code, and a
 * dead-letter copy), while the other jobs of its batch complete and the pool goes on with the next batch. Before, the
 * batch's transaction failed at every attempt and the pool stalled for good. Real embedded broker; the engine is a fake.
 */
class UnwritableOutcomeTest {
    private static final String POOL = "unwritable";
    private static final String SMALL_REPLIES = "it.small.replies";
    private static final String REPLIES = "it.replies";
    /** A reply topic deleted after the slot learnt it exists: every write waits for its metadata and times out (retriable). */
    private static final String DOOMED = "it.doomed.replies";
    private static final String POOL_RETRY = "unwritable-retry";
    private static final AvroSerde<JobResult> RESULTS = new AvroSerde<>(JobResult.class);
    private static EmbeddedKafkaBroker broker;
    private static KafkaClientSettings kafka;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = new EmbeddedKafkaBroker(Files.createTempDirectory("inferq-unwritable"), "127.0.0.1", 0, 0);
        broker.start(60_000);
        kafka = KafkaClientSettings.of(broker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(1, Map.of(POOL, 1, POOL_RETRY, 1)));
            admin.createTopics(List.of(new NewTopic(SMALL_REPLIES, 1, (short) 1).configs(Map.of("max.message.bytes", "4096")),
                    new NewTopic(REPLIES, 1, (short) 1), new NewTopic(DOOMED, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void aJobWhoseOutcomeCannotBeWrittenFailsAloneAndThePoolGoesOn() throws Exception {
        Map<String, Integer> runs = new ConcurrentHashMap<>();
        AtomicInteger engineCalls = new AtomicInteger();
        PoolWorker worker = worker(POOL, kafka, runs, engineCalls);
        worker.start();
        try {
                awaitReady(worker);
            sendBatch(POOL, "b1", List.of(
                    job("job_internal", "kafka", "__consumer_offsets", "hello"),
                    job("job_txstate", "kafka", "__transaction_state", "hello"),
                    job("job_huge", "kafka", SMALL_REPLIES, "HUGE"),
                    job("job_reply_ok", "kafka", REPLIES, "hello"),
                    job("job_http_ok", "http", null, "hello")));
            sendBatch(POOL, "b2", List.of(job("job_next_batch", "kafka", REPLIES, "hello")));

            Map<String, ConsumerRecord<String, byte[]>> byJob = readResults(6, Duration.ofSeconds(60));
            assertThat(byJob).containsOnlyKeys("job_internal", "job_txstate", "job_huge", "job_reply_ok", "job_http_ok", "job_next_batch");
            assertFailed(byJob.get("job_internal"), TopicCatalogue.RESULTS, "reply_topic_not_writable");
            assertFailed(byJob.get("job_txstate"), TopicCatalogue.RESULTS, "reply_topic_not_writable");
            assertFailed(byJob.get("job_huge"), SMALL_REPLIES, "result_too_large");
            assertSucceeded(byJob.get("job_reply_ok"), REPLIES);
            assertSucceeded(byJob.get("job_http_ok"), TopicCatalogue.RESULTS);
            assertSucceeded(byJob.get("job_next_batch"), REPLIES);
            assertThat(runs.get("job_reply_ok")).as("a batch written again does not run its jobs again").isEqualTo(1);
            assertThat(runs.get("job_huge")).isEqualTo(1);
            assertThat(runs).as("a job with an unwritable reply topic never runs").doesNotContainKeys("job_internal", "job_txstate");

            Map<String, ConsumerRecord<String, byte[]>> dlq = read(List.of(TopicCatalogue.REQUESTS_DLQ), 3, Duration.ofSeconds(30),
                    k -> !k.startsWith("job_isr"));
            assertThat(dlq).containsOnlyKeys("job_internal", "job_txstate", "job_huge");
            assertThat(header(dlq.get("job_internal"), DeadLetterHeaders.ERROR_CODE)).isEqualTo("reply_topic_not_writable");
            assertThat(header(dlq.get("job_huge"), DeadLetterHeaders.ERROR_CODE)).isEqualTo("result_too_large");
            assertThat(header(dlq.get("job_huge"), DeadLetterHeaders.CONNECT_TOPIC)).isEqualTo(TopicCatalogue.poolTopic(POOL));
            assertThat(header(dlq.get("job_huge"), JobHeaders.CORRELATION_ID)).isEqualTo("c-job_huge");
            assertThat(new AvroSerde<>(JobRequest.class).decode(dlq.get("job_huge").value()).getJobId()).isEqualTo("job_huge");
        } finally {
            worker.close();
        }
    }

    /**
     * A reply topic deleted after the slot saw it: every write to it times out (a retriable error), so the batch is written
     * again with backoff, and after {@value WorkerSlot#MAX_WRITE_ATTEMPTS} attempts the job fails ({@code result_write_failed},
     * result on {@code inferq.results}, a dead-letter copy) while its batch neighbour succeeds. Before, the batch was retried
     * forever.
     */
    @Test
    void aReplyTopicThatKeepsFailingTransientlyFailsItsJobAfterTheRetryLimit() throws Exception {
        Map<String, Integer> runs = new ConcurrentHashMap<>();
        PoolWorker worker = worker(POOL_RETRY, kafka, runs, new AtomicInteger());
        worker.start();
        try {
            awaitReady(worker);
            sendBatch(POOL_RETRY, "r0", List.of(job("job_isr_warmup", "kafka", DOOMED, "hello")));
            assertThat(read(List.of(DOOMED), 1, Duration.ofSeconds(60), k -> true)).containsOnlyKeys("job_isr_warmup");
            Properties ap = new Properties();
            ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
            try (Admin admin = Admin.create(ap)) {
                admin.deleteTopics(List.of(DOOMED)).all().get(30, TimeUnit.SECONDS);
            }
            sendBatch(POOL_RETRY, "r1", List.of(job("job_isr", "kafka", DOOMED, "hello"),
                    job("job_isr_neighbour", "kafka", REPLIES, "hello")));
            Map<String, ConsumerRecord<String, byte[]>> byJob = read(List.of(TopicCatalogue.RESULTS, REPLIES), 2, Duration.ofSeconds(120),
                    k -> k.startsWith("job_isr"));
            assertThat(byJob).containsOnlyKeys("job_isr", "job_isr_neighbour");
            assertFailed(byJob.get("job_isr"), TopicCatalogue.RESULTS, "result_write_failed");
            assertSucceeded(byJob.get("job_isr_neighbour"), REPLIES);
            assertThat(runs.get("job_isr_neighbour")).as("written again, not run again").isEqualTo(1);
            Map<String, ConsumerRecord<String, byte[]>> dlq = read(List.of(TopicCatalogue.REQUESTS_DLQ), 1, Duration.ofSeconds(30),
                    k -> k.startsWith("job_isr"));
            assertThat(header(dlq.get("job_isr"), DeadLetterHeaders.ERROR_CODE)).isEqualTo("result_write_failed");
        } finally {
            worker.close();
        }
    }

    private static void assertFailed(ConsumerRecord<String, byte[]> r, String topic, String code) {
        JobResult res = RESULTS.decode(r.value());
        assertThat(res.getStatus()).as("%s", res).isEqualTo(JobStatusCode.FAILED);
        assertThat(res.getError().getCode()).isEqualTo(code);
        assertThat(r.topic()).isEqualTo(topic);
        assertThat(header(r, JobHeaders.CORRELATION_ID)).isEqualTo("c-" + res.getJobId());
    }

    private static void assertSucceeded(ConsumerRecord<String, byte[]> r, String topic) {
        JobResult res = RESULTS.decode(r.value());
        assertThat(res.getStatus()).as("%s", res).isEqualTo(JobStatusCode.SUCCEEDED);
        assertThat(r.topic()).isEqualTo(topic);
    }

    private static JobRequest job(String id, String source, String replyTopic, String prompt) {
        return JobRequest.newBuilder().setJobId(id).setTenant("t").setModel("m").setSource(source).setReplyTopic(replyTopic)
                .setCorrelationId("c-" + id).setMessages(List.of(new ChatMessage("user", prompt))).setPromptTokens(3).setMaxTokens(4).build();
    }

    /** One slot of two batches; the engine answers "HUGE" prompts with 20,000 incompressible characters (over the small topic's 4 KiB). */
    private static PoolWorker worker(String pool, KafkaClientSettings kafka, Map<String, Integer> runs, AtomicInteger engineCalls) {
        InferenceBackend engine = new InferenceBackend() {
            @Override
            public List<SequenceOutcome> run(BatchWork batch) {
                engineCalls.incrementAndGet();
                long now = System.currentTimeMillis();
                List<SequenceOutcome> out = new ArrayList<>();
                for (var s : batch.sequences()) {
                    runs.merge(s.jobId(), 1, Integer::sum);
                    String text = s.messages().get(0).content().equals("HUGE") ? noise(20_000) : "done";
                    out.add(new SequenceOutcome.Completed(s.jobId(), text, "stop", s.promptTokens(), 1, 0, now, now));
                }
                return out;
            }

            @Override
            public String describe() {
                return "test engine";
            }
        };
        return new PoolWorker(new PoolWorkerSettings(pool, "chip", "unwritable-test", 1, 2, 3, 10_000, 6_000), kafka, engine,
                new InMemoryTerminalClaims(), PrefixCacheHook.NONE, TrustedOrigin.withSecret(new byte[32]), Clock.systemUTC(),
                new SimpleMeterRegistry());
    }

    private static String noise(int n) {
        Random r = new Random(7);
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append((char) (33 + r.nextInt(90)));
        }
        return sb.toString();
    }

    private static void awaitReady(PoolWorker worker) throws InterruptedException {
        long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!worker.isReady()) {
            assertThat(System.nanoTime()).as("the slot to join its group").isLessThan(until);
            Thread.sleep(50);
        }
    }

    private static void sendBatch(String pool, String batchId, List<JobRequest> jobs) throws Exception {
        PoolBatch batch = new PoolBatch(batchId, pool, 1024, System.currentTimeMillis(), jobs, null, -1, 1);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("unwritable-test"), new StringSerializer(),
                new ByteArraySerializer())) {
            p.send(new ProducerRecord<>(TopicCatalogue.poolTopic(pool), 0, batchId, new AvroSerde<>(PoolBatch.class).encode(batch)))
                    .get(10, TimeUnit.SECONDS);
        }
    }

    private static Map<String, ConsumerRecord<String, byte[]>> readResults(int expected, Duration timeout) {
        return read(List.of(TopicCatalogue.RESULTS, SMALL_REPLIES, REPLIES), expected, timeout, k -> !k.startsWith("job_isr"));
    }

    /** Committed records of {@code topics} whose key {@code mine} accepts (the tests share topics), by key; fails on a second record for a key. */
    private static Map<String, ConsumerRecord<String, byte[]>> read(List<String> topics, int expected, Duration timeout,
            java.util.function.Predicate<String> mine) {
        Map<String, ConsumerRecord<String, byte[]>> out = new HashMap<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(kafka.consumer("unwritable-reader-" + System.nanoTime(), null),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<org.apache.kafka.common.TopicPartition> parts = topics.stream()
                    .flatMap(t -> c.partitionsFor(t).stream().map(pi -> new org.apache.kafka.common.TopicPartition(t, pi.partition()))).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long until = System.nanoTime() + timeout.toNanos();
            while (out.size() < expected && System.nanoTime() < until) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (mine.test(r.key())) {
                        assertThat(out.put(r.key(), r)).as("one record per job: %s", r.key()).isNull();
                    }
                }
            }
            // a little longer, so that a duplicate would show
            long settle = System.nanoTime() + Duration.ofMillis(500).toNanos();
            while (System.nanoTime() < settle) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
                    if (mine.test(r.key())) {
                        assertThat(out.put(r.key(), r)).as("one record per job: %s", r.key()).isNull();
                    }
                }
            }
        }
        return out;
    }

    private static String header(ConsumerRecord<?, ?> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
