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
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.ServiceTimeModel;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two tenants share one pool through the real dispatcher runtime (embedded broker, request topic, pool topic, job
 * events): a heavy tenant's backlog is queued first, then a light tenant sends two jobs. The pool runs one job at a
 * time; the test plays the worker, finishing each batch it reads off the pool topic. With fair sharing the light
 * tenant's jobs go within the next few batches instead of after the whole backlog, and the per-tenant meters show it.
 */
class FairSharePipelineTest {
    private static final String POOL = "fair";
    private static final int HEAVY_JOBS = 12;
    private static final AvroSerde<JobRequest> REQUESTS = new AvroSerde<>(JobRequest.class);
    private static final AvroSerde<JobEvent> EVENTS = new AvroSerde<>(JobEvent.class);
    private static final AvroSerde<PoolBatch> BATCHES = new AvroSerde<>(PoolBatch.class);

    private static EmbeddedKafkaBroker broker;
    private static KafkaClientSettings kafka;

    @BeforeAll
    static void startBroker() throws Exception {
        Path dir = Files.createTempDirectory("inferq-fair-share");
        broker = new EmbeddedKafkaBroker(dir, "127.0.0.1", 0, 0);
        broker.start(60_000);
        kafka = KafkaClientSettings.of(broker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(1, Map.of(POOL, 1)));
        }
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void theLightTenantsJobsAreNotStuckBehindTheHeavyTenantsBacklog() throws Exception {
        ServiceTimeModel time = new ServiceTimeModel() {
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return uncachedPromptTokens / 1000.0;
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return outputTokens * 0.01;
            }
        };
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        // one instance, one credit, one sequence per batch: every batch is one job, served strictly one at a time (no
        // fair credits, which would let the light tenant past the one credit: the counter's order is what is tested)
        DispatchScheduler scheduler = new DispatchScheduler(DispatchConfig.defaults().withMaxWaits(0, 0)
                .withMaxInFlightBatchesPerInstance(1), FairnessConfig.defaults().withFairCredits(false),
                List.of(new PoolProfile(POOL, "chip", "m", 1, 10_000, 1, time)), RoutingPolicies.byName("ect", 42),
                PrefixLocator.NONE, registry);
        Vertx vertx = Vertx.vertx();
        Properties pp = kafka.producer("fair-share-test");
        pp.put("max.block.ms", "2000");
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
             KafkaConsumer<String, byte[]> batchReader = new KafkaConsumer<>(kafka.consumer("fair-share-reader", null),
                     new StringDeserializer(), new ByteArrayDeserializer())) {
            DispatcherVerticle dispatcher = new DispatcherVerticle(scheduler, kafka, producer, new InMemoryTerminalClaims(),
                    PromptAnalyzer.ESTIMATE_ONLY, RequestDecoding.avroOnly(), Clock.systemUTC(), registry);
            vertx.deployVerticle(dispatcher, new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER))
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            await(dispatcher::isReady, "the dispatcher to join its groups");
            TopicPartition part = new TopicPartition(TopicCatalogue.poolTopic(POOL), 0);
            batchReader.assign(List.of(part));
            batchReader.seekToBeginning(List.of(part));

            Map<String, JobRequest> sent = new HashMap<>();
            for (int i = 0; i < HEAVY_JOBS; i++) {
                sent.put("heavy-" + i, submit(producer, request("heavy-" + i, "heavy", 2000)));
            }
            // the first heavy job takes the only credit; the rest of the backlog waits in the dispatcher
            await(() -> scheduler.queuedJobs() == HEAVY_JOBS - 1, "the heavy backlog to queue");
            sent.put("light-0", submit(producer, request("light-0", "light", 100)));
            sent.put("light-1", submit(producer, request("light-1", "light", 100)));
            await(() -> scheduler.queuedJobs() == HEAVY_JOBS + 1, "the light jobs to queue behind it");

            List<String> order = new ArrayList<>();
            for (int n = 0; n < HEAVY_JOBS + 2; n++) {
                PoolBatch b = nextBatch(batchReader);
                assertThat(b.getJobs()).hasSize(1);
                String id = b.getJobs().get(0).getJobId();
                order.add(id);
                JobEvent done = JobSnapshots.fromRequest(sent.get(id), JobStatus.SUCCEEDED, System.currentTimeMillis());
                done.setDispatchId(b.getBatchId());
                producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, id, EVENTS.encode(done))).get(10, TimeUnit.SECONDS);
            }
            // oldest-first would run all twelve heavy jobs first; fair sharing alternates once both are backlogged
            assertThat(order.subList(0, 5)).as("dispatch order " + order).contains("light-0", "light-1");
            assertThat(order.indexOf("light-1")).as("dispatch order " + order).isLessThan(order.indexOf("heavy-" + 5));
            assertThat(registry.get("inferq.dispatcher.tenant.service").tags("tenant", "light", "lane", "interactive")
                    .functionCounter().count()).isEqualTo(2 * (100 + 2.0 * 4));
            assertThat(registry.get("inferq.dispatcher.tenant.backlog").tags("tenant", "heavy").gauge().value()).isZero();
            assertThat(registry.get("inferq.dispatcher.tenant.virtual.counter").tags("tenant", "heavy").gauge().value())
                    .isGreaterThan(0);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static JobRequest request(String id, String tenant, int promptTokens) {
        return JobRequest.newBuilder().setJobId(id).setTenant(tenant).setModel("m")
                .setMessages(List.of(new ChatMessage("user", "hello " + id))).setPromptTokens(promptTokens).setMaxTokens(4)
                .setAttempt(0).build();
    }

    private static JobRequest submit(KafkaProducer<String, byte[]> producer, JobRequest r) throws Exception {
        producer.send(new ProducerRecord<>(TopicCatalogue.REQUESTS, r.getJobId(), REQUESTS.encode(r))).get(10, TimeUnit.SECONDS);
        return r;
    }

    private static PoolBatch nextBatch(KafkaConsumer<String, byte[]> reader) {
        long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < until) {
            for (ConsumerRecord<String, byte[]> r : reader.poll(Duration.ofMillis(100))) {
                return BATCHES.decode(r.value()); // one credit: at most one batch is ever unread here
            }
        }
        throw new AssertionError("no batch on the pool topic within 30 s");
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
