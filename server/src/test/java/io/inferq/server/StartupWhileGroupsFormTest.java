package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.server.config.ConfigLoader;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * After a kill -9 the restarted process's consumer groups cannot form until the dead member's session expires (or
 * its rebalance timeout passes). HTTP must not wait for that: it listens, accepts jobs as soon as Kafka and the job
 * view allow, and {@code /ready} names the component still joining. Here a group member that stays alive but never
 * polls again (as a frozen process would) holds the webhook deliverers' group in its rebalance for two minutes.
 */
class StartupWhileGroupsFormTest {

    @Test
    void httpAcceptsJobsWhileTheWebhookGroupIsStillJoiningAndReadyNamesIt() throws Exception {
        try (EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(TestInferq.tempDir(), "127.0.0.1", 0, 0)) {
            broker.start(60_000);
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
            p.put(ConsumerConfig.GROUP_ID_CONFIG, "inferq-webhook-deliverers");
            p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "120000"); // the rebalance waits this long for it
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "30000");
            KafkaConsumer<String, byte[]> frozen = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
            boolean frozenOpen = true;
            try {
                frozen.subscribe(List.of("inferq.webhook-deliveries"));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (frozen.groupMetadata().generationId() < 1 && System.nanoTime() < deadline) {
                    frozen.poll(Duration.ofMillis(100));
                }
                assertThat(frozen.groupMetadata().generationId()).as("frozen member joined").isPositive();
                // from here on it never polls: its heartbeats keep it in the group, and a join waits for it

                ObjectNode tree = ConfigLoader.defaults();
                tree.put("data-dir", TestInferq.tempDir().toString());
                tree.putArray("roles").add("ingress");
                ((ObjectNode) tree.get("http")).put("port", 0);
                ((ObjectNode) tree.get("kafka")).put("embedded", false).put("bootstrap-servers", broker.bootstrapServers())
                        .put("partitions", 2);
                ((ObjectNode) tree.get("hazelcast")).put("port", TestInferq.freePort())
                        .put("cluster-name", "inferq-startup-test-" + System.nanoTime());
                var config = ConfigLoader.bind(tree);
                long t0 = System.nanoTime();
                InferqServer server = CompletableFuture.supplyAsync(() -> InferqServer.start(config)).get(110, TimeUnit.SECONDS);
                try {
                    long startedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                    assertThat(server.readiness()).containsEntry("webhooks", false);
                    var ready = TestInferq.http(server, "GET", "/ready", null);
                    assertThat(ready.statusCode()).isEqualTo(503);
                    assertThat(new JsonObject(ready.body()).getJsonObject("components").getBoolean("webhooks")).isFalse();
                    var submit = TestInferq.http(server, "POST", "/v1/jobs",
                            "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"while joining\"}],"
                                    + "\"webhook\":\"https://example.com/hook\"}");
                    assertThat(submit.statusCode()).as("submit %d ms after start: %s", startedMs, submit.body()).isEqualTo(202);
                    assertThat(server.readiness()).as("still joining when the job was accepted").containsEntry("webhooks", false);

                    frozen.close(); // the frozen member leaves: the group forms
                    frozenOpen = false;
                    TestInferq.await(Duration.ofSeconds(60), () -> Boolean.TRUE.equals(server.readiness().get("webhooks")),
                            "webhook groups to form once the frozen member left");
                } finally {
                    server.close();
                }
            } finally {
                if (frozenOpen) {
                    frozen.close();
                }
            }
        }
    }
}
