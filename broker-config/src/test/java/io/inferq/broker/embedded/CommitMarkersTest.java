package io.inferq.broker.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link CommitMarkers} on a real embedded broker: a transaction left open on a partition (its producer never commits)
 * is committed there, so a read_committed reader gets its records and the partition's last stable offset reaches its
 * end. This is what the hanging-transaction check does for a transaction its coordinator recorded as committed
 * ({@code CompleteCommit}) but whose marker never reached the partition; an abort would lose the records.
 */
class CommitMarkersTest {

    @TempDir
    Path dir;

    @Test
    void anOpenTransactionIsCommittedOnItsPartitionAndItsRecordsBecomeReadable() throws Exception {
        TopicPartition tp = new TopicPartition("hanging", 0);
        try (EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(dir.resolve("kafka"), "127.0.0.1", 0, 0)) {
            broker.start(60_000);
            Properties ap = new Properties();
            ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
            try (Admin admin = Admin.create(ap)) {
                admin.createTopics(List.of(new NewTopic(tp.topic(), 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
                Properties pp = new Properties();
                pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
                pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "left-open");
                KafkaProducer<String, String> producer = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer());
                try {
                    producer.initTransactions();
                    producer.beginTransaction();
                    for (int i = 0; i < 3; i++) {
                        producer.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                    }
                    ProducerState open = admin.describeProducers(List.of(tp)).all().get(30, TimeUnit.SECONDS).get(tp)
                            .activeProducers().stream().filter(s -> s.currentTransactionStartOffset().isPresent())
                            .findFirst().orElseThrow();
                    assertThat(lastStable(admin, tp)).as("the open transaction holds the last stable offset").isZero();

                    Errors result = new CommitMarkers(new InetSocketAddress("127.0.0.1", broker.port()), 10_000)
                            .commit(tp, open.producerId(), (short) open.producerEpoch(), open.coordinatorEpoch().orElse(-1));

                    assertThat(result).isEqualTo(Errors.NONE);
                    assertThat(admin.describeProducers(List.of(tp)).all().get(30, TimeUnit.SECONDS).get(tp).activeProducers())
                            .noneMatch(s -> s.currentTransactionStartOffset().isPresent());
                    assertThat(readCommitted(broker.bootstrapServers(), tp)).containsExactly("v0", "v1", "v2");
                } finally {
                    producer.close(Duration.ZERO);
                }
            }
        }
    }

    @Test
    void aHangingTransactionIsCommittedOnlyWhenItsCoordinatorRecordedTheCommit() {
        assertThat(HangingTransactions.endsByCommit(view(TransactionState.COMPLETE_COMMIT))).isTrue();
        assertThat(HangingTransactions.endsByCommit(view(TransactionState.COMPLETE_ABORT))).isFalse();
        assertThat(HangingTransactions.endsByCommit(view(TransactionState.EMPTY))).isFalse();
        assertThat(HangingTransactions.endsByCommit(view(TransactionState.ONGOING))).isFalse();
        assertThat(HangingTransactions.endsByCommit(null)).as("producer unknown to the coordinator").isFalse();
    }

    private static TransactionDescription view(TransactionState state) {
        return new TransactionDescription(1, state, 5L, 0, 60_000L, OptionalLong.empty(), Set.of());
    }

    private static long lastStable(Admin admin, TopicPartition tp) throws Exception {
        return admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                .partitionResult(tp).get(30, TimeUnit.SECONDS).offset();
    }

    private static List<String> readCommitted(String bootstrap, TopicPartition tp) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (out.size() < 3 && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }
}
