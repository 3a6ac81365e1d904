package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.workers.backend.BatchWork;
import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.SequenceOutcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Issue 13: a worker slot is ready only when it can read. A transactional offset commit on the pool's group that never
 * ends (what a crash between a worker transaction's commit decision and its markers leaves behind) makes the slot's
 * consumer wait forever for its start offset ({@code UNSTABLE_OFFSET_COMMIT}); the slot polled nothing and still said
 * ready, so {@code /ready} hid a stalled pool. Real embedded broker; the engine is never called.
 */
class WorkerSlotReadinessTest {
    private static final String POOL = "readiness";
    private static final String GROUP = "inferq.pool." + POOL + ".workers";

    @Test
    void aSlotThatCannotFetchItsStartOffsetIsNotReadyUntilItCan() throws Exception {
        try (EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(Files.createTempDirectory("inferq-slot-readiness"), "127.0.0.1", 0, 0)) {
            broker.start(60_000);
            run(broker.bootstrapServers());
        }
    }

    @SuppressWarnings("removal") // ConsumerGroupMetadata(groupId): a transactional offset commit outside the group, as wanted here
    private static void run(String bootstrap) throws Exception {
        KafkaClientSettings kafka = KafkaClientSettings.of(bootstrap);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        TopicPartition tp = new TopicPartition(TopicCatalogue.poolTopic(POOL), 0);
        try (Admin admin = Admin.create(ap);
                KafkaProducer<String, byte[]> hanging = new KafkaProducer<>(kafka.transactionalProducer("readiness-hang",
                        "readiness-test-hanging"), new StringSerializer(), new ByteArraySerializer())) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(TopicCatalogue.topics(1, Map.of(POOL, 1)));
            // an open transaction holding an offset commit of the pool's group: committed-offset reads of that partition
            // (read_committed: require_stable) answer UNSTABLE_OFFSET_COMMIT until it ends
            hanging.initTransactions();
            hanging.beginTransaction();
            hanging.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(0)), new ConsumerGroupMetadata(GROUP));

            PoolWorker worker = new PoolWorker(new PoolWorkerSettings(POOL, "chip", "readiness-test", 1, 2, 3, 60_000, 6_000), kafka,
                    neverCalled(), new InMemoryTerminalClaims(), PrefixCacheHook.NONE, TrustedOrigin.withSecret(new byte[32]),
                    Clock.systemUTC(), new SimpleMeterRegistry());
            worker.start();
            try {
                awaitAssigned(admin, Duration.ofSeconds(60));
                // the slot owns the partition and polls: before, it said ready at its first poll (every 200 ms)
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
                while (System.nanoTime() < until) {
                    assertThat(worker.isReady()).as("a slot that cannot fetch its start offset is not ready").isFalse();
                    Thread.sleep(50);
                }
                hanging.abortTransaction();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (!worker.isReady()) {
                    assertThat(System.nanoTime()).as("ready once its start offset can be fetched").isLessThan(deadline);
                    Thread.sleep(50);
                }
            } finally {
                worker.close();
            }
        }
    }

    /** Waits until the pool's group is stable with the slot owning the partition. */
    private static void awaitAssigned(Admin admin, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(GROUP)).all().get(10, TimeUnit.SECONDS).get(GROUP);
            if (d.groupState() == GroupState.STABLE && d.members().stream().anyMatch(m -> !m.assignment().topicPartitions().isEmpty())) {
                return;
            }
            assertThat(System.nanoTime()).as("the slot to join the pool's group: " + d).isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    private static InferenceBackend neverCalled() {
        return new InferenceBackend() {
            @Override
            public List<SequenceOutcome> run(BatchWork batch) {
                throw new AssertionError("no batch is sent in this test");
            }

            @Override
            public String describe() {
                return "test engine";
            }
        };
    }
}
