package io.inferq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.KafkaPollLoop;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class KafkaPollLoopTest {

    @Test
    void commitsOnlyUpToTheLowestRecordNotDoneAndNeverHoldsMoreThanTheBound() throws Exception {
        String topic = "poll-loop-test";
        KafkaClientSettings settings = KafkaClientSettings.of(SharedKafkaBroker.bootstrapServers());
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
        try (Admin admin = Admin.create(ap)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(List.of(new TopicSpec(topic, 1, Map.of())));
            try (var producer = new KafkaProducer<>(settings.producer("t"), new StringSerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, "k" + i, new byte[] {(byte) i})).get();
                }
            }
            BlockingQueue<ConsumerRecord<String, byte[]>> delivered = new LinkedBlockingQueue<>();
            try (KafkaPollLoop loop = new KafkaPollLoop("test-loop", settings.consumer("t", "poll-loop-group"),
                    List.of(topic), 4, delivered::addAll)) {
                loop.start();
                List<ConsumerRecord<String, byte[]>> got = new ArrayList<>();
                while (got.size() < 4) {
                    var r = delivered.poll(30, TimeUnit.SECONDS);
                    assertThat(r).as("record delivered").isNotNull();
                    got.add(r);
                }
                // bounded: with 4 in flight and none done, nothing more arrives
                assertThat(delivered.poll(500, TimeUnit.MILLISECONDS)).isNull();
                assertThat(loop.inFlight()).isEqualTo(4);

                // finish offsets 1,2,3 but not 0: nothing is committable yet
                loop.done(got.get(1));
                loop.done(got.get(2));
                loop.done(got.get(3));
                assertNeverCommittedBeyond(admin, topic, 0L, Duration.ofSeconds(1));
                loop.done(got.get(0));
                awaitCommitted(admin, topic, 4L, Duration.ofSeconds(30));
            }
        }
    }

    private static long committed(Admin admin, String topic) throws Exception {
        var om = admin.listConsumerGroupOffsets("poll-loop-group").partitionsToOffsetAndMetadata().get()
                .get(new TopicPartition(topic, 0));
        return om == null ? -1 : om.offset();
    }

    private static void assertNeverCommittedBeyond(Admin admin, String topic, long limit, Duration during) throws Exception {
        long deadline = System.nanoTime() + during.toNanos();
        while (System.nanoTime() < deadline) {
            assertThat(committed(admin, topic)).isLessThanOrEqualTo(limit);
            Thread.sleep(50);
        }
    }

    private static void awaitCommitted(Admin admin, String topic, long expected, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        long seen = committed(admin, topic);
        while (seen != expected && System.nanoTime() < deadline) {
            Thread.sleep(50);
            seen = committed(admin, topic);
        }
        assertThat(seen).isEqualTo(expected);
    }
}
