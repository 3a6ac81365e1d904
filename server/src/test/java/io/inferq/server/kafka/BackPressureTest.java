package io.inferq.server.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.runtime.contract.ContractHeaders;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.micrometer.core.instrument.Gauge;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.Test;

/**
 * A producer flooding {@code inferq.requests} only grows the topic's backlog: the dispatcher holds at
 * most {@code max-queued-jobs} jobs (its poll loops pause), and the rest waits in Kafka uncommitted.
 */
class BackPressureTest {
    private static final int MAX_QUEUED = 60;
    private static final int FLOOD = 3_000;

    @Test
    void aFloodGrowsTheBacklogNotTheDispatchersQueue() throws Exception {
        try (InferqServer server = TestInferq.start(tree -> {
            // one slow pool (real time), so the queue fills long before work drains
            KafkaContractClient.litePools(tree, 1.0, 4, 8192, Map.of("mtt-s4000", 1));
            ((ObjectNode) tree.get("dispatcher")).put("max-queued-jobs", MAX_QUEUED).put("max-in-flight-batches-per-instance", 1);
        })) {
            try (KafkaProducer<String, byte[]> p = KafkaContractClient.producer(server)) {
                for (int i = 0; i < FLOOD; i++) {
                    p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "flood-" + (i % 7),
                            KafkaContractClient.chatJson("deepseek-v2-lite", "flood " + i, 256), ContractHeaders.CORRELATION_ID, "f-" + i));
                }
                p.flush();
            }
            // sample the depth until it has been past a quarter of its bound for 3 s (at most 60 s on a slow machine)
            double maxSeen = 0;
            long giveUp = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            long until = giveUp;
            while (System.nanoTime() < until) {
                double depth = server.registry().find("inferq.dispatcher.queue.depth").gauges().stream().mapToDouble(Gauge::value).sum();
                maxSeen = Math.max(maxSeen, depth);
                if (until == giveUp && maxSeen > MAX_QUEUED / 4.0) {
                    until = Math.min(giveUp, System.nanoTime() + Duration.ofSeconds(3).toNanos());
                }
                Thread.sleep(5);
            }
            long committed = committedOffsets(server, "inferq-dispatcher");
            System.out.printf("back-pressure: max queue depth %.0f (bound %d); dispatcher committed %d of %d records%n",
                    maxSeen, MAX_QUEUED, committed, FLOOD);
            assertThat(maxSeen).as("the queue filled up to its bound").isGreaterThan(MAX_QUEUED / 4.0);
            assertThat(maxSeen).as("and never beyond it").isLessThanOrEqualTo(MAX_QUEUED);
            assertThat(FLOOD - committed).as("the backlog stays in Kafka").isGreaterThan(FLOOD / 2);
        }
    }

    private static long committedOffsets(InferqServer server, String group) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, server.kafkaBootstrapServers());
        try (Admin admin = Admin.create(p)) {
            Map<org.apache.kafka.common.TopicPartition, OffsetAndMetadata> offsets =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            return offsets.entrySet().stream().filter(e -> e.getKey().topic().equals(TopicCatalogue.REQUESTS) && e.getValue() != null)
                    .mapToLong(e -> e.getValue().offset()).sum();
        }
    }
}
