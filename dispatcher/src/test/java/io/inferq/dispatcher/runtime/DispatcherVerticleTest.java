package io.inferq.dispatcher.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.ServiceTimeModel;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The dispatcher's runtime: a pool's batch credits come back however its jobs leave their batches, and a failed claim
 * is tried again. The dispatcher runs against a real embedded
 * broker, the test plays the workers' part by writing their job events, and reads the batches off the pool topic.
 * The pool has {@value #INSTANCES} instances of one credit each; the clock is a fake one, moved by the test.
 */
class DispatcherVerticleTest {
    private static final String POOL = "p";
    private static final int INSTANCES = 2;
    /** Partitions of the request and event topics: two, so that two dispatchers share the requests. */
    private static final int PARTITIONS = 2;
    private static final AvroSerde<JobRequest> REQUESTS = new AvroSerde<>(JobRequest.class);
    private static final AvroSerde<JobEvent> EVENTS = new AvroSerde<>(JobEvent.class);
    private static final AvroSerde<PoolBatch> BATCHES = new AvroSerde<>(PoolBatch.class);

    private EmbeddedKafkaBroker broker;
    private KafkaClientSettings kafka;
    private ServiceTimeModel time;
    private Clock clock;
    private TerminalClaims flakyClaims;
    private Vertx vertx;
    private DispatchScheduler scheduler;
    private DispatcherVerticle dispatcher;
    private InMemoryTerminalClaims claims;
    /** Claim calls that fail (as a Hazelcast call does while a member leaves) before the store answers again. */
    private final java.util.concurrent.atomic.AtomicInteger claimFailures = new java.util.concurrent.atomic.AtomicInteger();
    private KafkaProducer<String, byte[]> producer;
    /** The dispatcher's batch-lane producer, as the server wires it. */
    private KafkaProducer<String, byte[]> bulk;
    private KafkaConsumer<String, byte[]> batchReader;
    private final AtomicLong nowMs = new AtomicLong(1_000_000);
    private final List<PoolBatch> batches = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        Path dir = Files.createTempDirectory("inferq-dispatcher-credits");
        broker = new EmbeddedKafkaBroker(dir, "127.0.0.1", 0, 0);
        broker.start(60_000);
        kafka = KafkaClientSettings.of(broker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(PARTITIONS, Map.of(POOL, INSTANCES)));
        }
        time = new ServiceTimeModel() {
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return uncachedPromptTokens / 1000.0;
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return outputTokens * 0.01;
            }
        };
        scheduler = newScheduler();
        claims = new InMemoryTerminalClaims();
        Properties pp = kafka.producer("credits-test");
        pp.put("max.block.ms", "2000"); // as the server sets it
        producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
        Properties bp = kafka.producer("credits-test-bulk");
        bp.put("max.block.ms", "2000");
        bulk = new KafkaProducer<>(bp, new StringSerializer(), new ByteArraySerializer());
        clock = new Clock() {
            @Override
            public java.time.ZoneId getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return Instant.ofEpochMilli(nowMs.get());
            }
        };
        flakyClaims = new TerminalClaims() {
            @Override
            public Claim claim(String jobId, JobStatus terminal, String owner) {
                if (claimFailures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    throw new IllegalStateException("claim store unavailable (test)");
                }
                return claims.claim(jobId, terminal, owner);
            }

            @Override
            public Claim claimed(String jobId) {
                return claims.claimed(jobId);
            }

            @Override
            public boolean transfer(String jobId, Claim from, String toOwner) {
                return claims.transfer(jobId, from, toOwner);
            }
        };
        dispatcher = new DispatcherVerticle(scheduler, kafka, producer, flakyClaims, PromptAnalyzer.ESTIMATE_ONLY,
                RequestDecoding.avroOnly(), clock, new SimpleMeterRegistry()).batchLaneBatchesVia(bulk);
        vertx = Vertx.vertx();
        vertx.deployVerticle(dispatcher, new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER))
                .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        await(dispatcher::isReady, "the dispatcher to join its groups");
        batchReader = new KafkaConsumer<>(kafka.consumer("credits-test-reader", null), new StringDeserializer(),
                new ByteArrayDeserializer());
        List<TopicPartition> parts = new ArrayList<>();
        for (int i = 0; i < INSTANCES; i++) {
            parts.add(new TopicPartition(TopicCatalogue.poolTopic(POOL), i));
        }
        batchReader.assign(parts);
        batchReader.seekToBeginning(parts);
    }

    @AfterEach
    void stop() throws Exception {
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        if (batchReader != null) {
            batchReader.close();
        }
        if (producer != null) {
            producer.close();
        }
        if (bulk != null) {
            bulk.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void aCancelledJobLeavesTheQueueAndItsBatchWhateverDispatchIdItsEventCarries() throws Exception {
        // a1 runs on one instance; b1 fails retriably on the other and is handed back (as a worker does it)
        submit(request("a1", 0));
        PoolBatch batchOfA1 = nextBatch();
        submit(request("b1", 0));
        PoolBatch batchOfB1 = nextBatch();
        assertThat(jobIds(batchOfB1)).containsExactly("b1");
        event(snapshot("b1", 1, JobStatus.QUEUED, batchOfB1.getBatchId()));
        // c1 takes the credit b1's hand-back returned; b1's second attempt then waits in the queue
        submit(request("c1", 0));
        assertThat(jobIds(nextBatch())).containsExactly("c1");
        submit(request("b1", 1));
        await(() -> scheduler.queuedJobs() == 1, "b1 to wait for a credit");

        // the user cancels b1; the view's snapshot was the hand-back, so the event names b1's old batch
        claims.claim("b1", JobStatus.CANCELLED, "api");
        event(snapshot("b1", 1, JobStatus.CANCELLED, batchOfB1.getBatchId()));
        await(() -> scheduler.queuedJobs() == 0, "the cancelled job to leave the queue");

        // a1 finishes: its credit goes to the next job, never to the cancelled one
        event(snapshot("a1", 0, JobStatus.SUCCEEDED, batchOfA1.getBatchId()));
        submit(request("d1", 0));
        assertThat(jobIds(nextBatch())).containsExactly("d1");
        assertThat(batches).flatExtracting(DispatcherVerticleTest::jobIds).containsOnlyOnce("b1");
    }

    @Test
    void aJobWhoseClaimAnotherOwnerHoldsLeavesItsBatchAtTheAuditAndOthersStay() throws Exception {
        // e1 had finished before a dispatcher restart (its claim is an earlier batch's) and is read again
        claims.claim("e1", JobStatus.SUCCEEDED, "p-earlier-7");
        submit(request("e1", 0));
        PoolBatch batchOfE1 = nextBatch();
        submit(request("f1", 0));
        PoolBatch batchOfF1 = nextBatch();
        assertThat(jobIds(batchOfF1)).containsExactly("f1");
        assertThat(batchOfE1.getBatchId()).as("batch ids never repeat an earlier incarnation's").doesNotStartWith("p-earlier");
        assertThat(scheduler.freeBatchCredits(POOL)).isZero();

        assertThat(dispatcher.auditNow().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS))
                .as("batches younger than the audit age are left alone").isZero();
        nowMs.addAndGet(DispatcherVerticle.AUDIT_AFTER_MS + 1);
        // f1's worker has claimed f1 for its own batch and not yet reported: that batch stays in flight
        claims.claim("f1", JobStatus.SUCCEEDED, batchOfF1.getBatchId());
        dispatcher.auditNow().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS); // or the periodic one ran first
        await(() -> scheduler.freeBatchCredits(POOL) == 1, "e1's batch to give its credit back");
        assertThat(scheduler.inFlightBatches(POOL)).isEqualTo(1);

        submit(request("g1", 0));
        assertThat(jobIds(nextBatch())).containsExactly("g1");
        event(snapshot("f1", 0, JobStatus.SUCCEEDED, batchOfF1.getBatchId()));
        await(() -> scheduler.inFlightBatches(POOL) == 1, "f1's batch to finish when its worker reports");
    }

    @Test
    void anExpiryWhoseClaimFailsIsTriedAgainUntilItsEventIsWritten() throws Exception {
        claimFailures.set(2);
        JobRequest late = JobRequest.newBuilder(request("x1", 0)).setDeadlineAtMs(nowMs.get() - 1).build();
        submit(late);
        ConsumerRecord<String, byte[]> expired = firstRecord(TopicCatalogue.JOB_EVENTS, r -> r.key().equals("x1")
                && JobStatus.fromWire(EVENTS.decode(r.value()).getStatus()) == JobStatus.EXPIRED);
        assertThat(expired).as("the expiry written after the claim store answered again").isNotNull();
        assertThat(claimFailures.get()).as("both failures were met").isZero();
        assertThat(claims.claimed("x1")).isEqualTo(new TerminalClaims.Claim(JobStatus.EXPIRED, "dispatcher"));
    }

    @Test
    void admissionRunsInProductionAJobOverItsTenantsQuotaEndsFailed() throws Exception {
        // its own queued tokens (prompt + max output) exceed the default per-tenant quota of 4M tokens
        JobRequest greedy = JobRequest.newBuilder(request("q1", 0)).setMaxTokens(4_100_000).build();
        submit(greedy);
        ConsumerRecord<String, byte[]> failed = firstRecord(TopicCatalogue.JOB_EVENTS, r -> r.key().equals("q1")
                && JobStatus.fromWire(EVENTS.decode(r.value()).getStatus()) == JobStatus.FAILED);
        assertThat(failed).as("the refusal written as the job's terminal state").isNotNull();
        assertThat(EVENTS.decode(failed.value()).getError().getCode()).isEqualTo("tenant_quota_exceeded");
        assertThat(firstRecord(TopicCatalogue.RESULTS, r -> r.key().equals("q1"))).as("and its error result").isNotNull();
        // the dispatcher goes on: a job within the quota is sent as usual
        submit(request("q2", 0));
        assertThat(jobIds(nextBatch())).containsExactly("q2");
    }

    @Test
    void aResultForAReplyTopicThatIsGoneGoesToTheResultsTopic() throws Exception {
        JobRequest late = JobRequest.newBuilder(request("y1", 0)).setDeadlineAtMs(nowMs.get() - 1).setReplyTopic("it.deleted-since")
                .build();
        submit(late);
        assertThat(firstRecord(TopicCatalogue.RESULTS, r -> r.key().equals("y1")))
                .as("the expired job's result, on " + TopicCatalogue.RESULTS).isNotNull();
    }

    /** The first record of {@code topic} (every partition, from the beginning) that {@code wanted} accepts, within 60 s. */
    private ConsumerRecord<String, byte[]> firstRecord(String topic, java.util.function.Predicate<ConsumerRecord<String, byte[]>> wanted) {
        try (KafkaConsumer<String, byte[]> reader = new KafkaConsumer<>(kafka.consumer("verticle-test-reader", null),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                parts.add(new TopicPartition(topic, p));
            }
            reader.assign(parts);
            reader.seekToBeginning(parts);
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (System.nanoTime() < until) {
                for (ConsumerRecord<String, byte[]> r : reader.poll(Duration.ofMillis(100))) {
                    if (wanted.test(r)) {
                        return r;
                    }
                }
            }
            return null;
        }
    }

    /** Batch-lane batches go through the bulk producer (its own broker connection), interactive ones do not. */
    @Test
    void batchLaneBatchesAreWrittenThroughTheBulkProducerAndInteractiveOnesAreNot() throws Exception {
        JobRequest offline = request("offline", 0);
        offline.setLane(io.inferq.broker.avro.Lane.BATCH);
        producer.send(new ProducerRecord<>(TopicCatalogue.REQUESTS_BATCH, offline.getJobId(), REQUESTS.encode(offline)))
                .get(10, TimeUnit.SECONDS);
        assertThat(jobIds(nextBatch())).containsExactly("offline");
        assertThat(recordsSent(bulk)).isEqualTo(1);
        submit(request("online", 0));
        assertThat(jobIds(nextBatch())).containsExactly("online");
        assertThat(recordsSent(bulk)).isEqualTo(1);
    }

    private static double recordsSent(KafkaProducer<String, byte[]> p) {
        return p.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("record-send-total") && e.getKey().group().equals("producer-metrics"))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue()).sum();
    }

    @Test
    void aSecondDispatcherTakesOverHalfTheQueueAndTheFirstForgetsIt() throws Exception {
        takeOverHalfTheQueue(TopicCatalogue.REQUESTS, io.inferq.broker.avro.Lane.INTERACTIVE);
    }

    /** The batch lane's records wait in a backlog before they are taken in: a rebalance drops those of lost partitions. */
    @Test
    void aSecondDispatcherTakesOverHalfTheBatchLaneAndTheFirstForgetsIt() throws Exception {
        takeOverHalfTheQueue(TopicCatalogue.REQUESTS_BATCH, io.inferq.broker.avro.Lane.BATCH);
    }

    private void takeOverHalfTheQueue(String topic, io.inferq.broker.avro.Lane lane) throws Exception {
        // both credits taken, so what follows waits in the first dispatcher's queue
        submit(request("busy1", 0));
        nextBatch();
        submit(request("busy2", 0));
        nextBatch();
        List<String> waiting = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            JobRequest r = request("w" + i, 0);
            r.setLane(lane);
            producer.send(new ProducerRecord<>(topic, i % PARTITIONS, r.getJobId(), REQUESTS.encode(r)))
                    .get(10, TimeUnit.SECONDS);
            waiting.add(r.getJobId());
        }
        await(() -> scheduler.queuedJobs() == 6, "the first dispatcher to queue all six");

        DispatchScheduler second = newScheduler();
        DispatcherVerticle secondDispatcher = new DispatcherVerticle(second, kafka, producer, flakyClaims, PromptAnalyzer.ESTIMATE_ONLY,
                RequestDecoding.avroOnly(), clock, new SimpleMeterRegistry());
        vertx.deployVerticle(secondDispatcher, new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER))
                .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        await(() -> secondDispatcher.isReady() && dispatcher.isReady(), "both dispatchers to own a partition");
        // the second has credits of its own: it dispatches what it took over, beyond them it queues
        await(() -> scheduler.queuedJobs() == 3, "the first dispatcher to forget the partition it lost");
        await(() -> second.queuedJobs() + dispatchedSince(2) == 3, "the second to take over the other three");
        for (String id : waiting) {
            boolean first = scheduler.isQueued(id);
            boolean taken = second.isQueued(id) || batches.stream().skip(2).anyMatch(b -> jobIds(b).contains(id));
            assertThat(first ^ taken).as(id + " is held by exactly one dispatcher").isTrue();
        }
    }

    private int dispatchedSince(int batchIndex) {
        long until = System.nanoTime() + Duration.ofMillis(300).toNanos();
        while (System.nanoTime() < until) {
            for (ConsumerRecord<String, byte[]> r : batchReader.poll(Duration.ofMillis(50))) {
                batches.add(BATCHES.decode(r.value()));
            }
        }
        return batches.stream().skip(batchIndex).mapToInt(b -> b.getJobs().size()).sum();
    }

    private DispatchScheduler newScheduler() {
        return new DispatchScheduler(DispatchConfig.defaults().withMaxWaits(0, 0).withMaxInFlightBatchesPerInstance(1),
                List.of(new PoolProfile(POOL, "chip", "m", INSTANCES, 10_000, 64, time)), RoutingPolicies.byName("ect", 42),
                PrefixLocator.NONE, new SimpleMeterRegistry());
    }

    private static JobRequest request(String id, int attempt) {
        return JobRequest.newBuilder().setJobId(id).setTenant("t1").setModel("m")
                .setMessages(List.of(new ChatMessage("user", "hello " + id))).setPromptTokens(10).setMaxTokens(4)
                .setAttempt(attempt).build();
    }

    private JobEvent snapshot(String id, int attempt, JobStatus status, String dispatchId) {
        JobEvent e = JobSnapshots.fromRequest(request(id, attempt), status, nowMs.get());
        e.setDispatchId(dispatchId);
        return e;
    }

    private void submit(JobRequest r) throws Exception {
        producer.send(new ProducerRecord<>(TopicCatalogue.REQUESTS, r.getJobId(), REQUESTS.encode(r))).get(10, TimeUnit.SECONDS);
    }

    private void event(JobEvent e) throws Exception {
        producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, e.getJobId(), EVENTS.encode(e))).get(10, TimeUnit.SECONDS);
    }

    private PoolBatch nextBatch() {
        int seen = batches.size();
        long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (batches.size() == seen && System.nanoTime() < until) {
            for (ConsumerRecord<String, byte[]> r : batchReader.poll(Duration.ofMillis(100))) {
                batches.add(BATCHES.decode(r.value()));
            }
        }
        assertThat(batches.size()).as("a batch on the pool topic").isGreaterThan(seen);
        return batches.get(seen);
    }

    private static List<String> jobIds(PoolBatch b) {
        List<String> ids = new ArrayList<>();
        b.getJobs().forEach(j -> ids.add(j.getJobId()));
        return ids;
    }

    private static void await(BooleanSupplier condition, String what) {
        long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting for " + what).isLessThan(until);
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
