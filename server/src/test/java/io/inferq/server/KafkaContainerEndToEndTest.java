package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

/**
 * The end-to-end path of {@link EndToEndTest} against a Kafka broker in a container instead of the
 * embedded one: the external-cluster configuration. Runs where Docker exists; skipped cleanly elsewhere.
 */
@Testcontainers(disabledWithoutDocker = true)
class KafkaContainerEndToEndTest {

    @Container
    static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.0.0");

    @Test
    void aJobSucceedsThroughAnExternalKafkaCluster() {
        try (InferqServer server = TestInferq.start(tree -> ((ObjectNode) tree.get("kafka"))
                .put("embedded", false).put("bootstrap-servers", KAFKA.getBootstrapServers()))) {
            var submit = TestInferq.http(server, "POST", "/v1/jobs",
                    "{\"model\":\"deepseek-v3\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":8}");
            assertThat(submit.statusCode()).isEqualTo(202);
            String id = new JsonObject(submit.body()).getString("id");
            TestInferq.await(Duration.ofSeconds(60), () -> "succeeded".equals(new JsonObject(
                    TestInferq.http(server, "GET", "/v1/jobs/" + id, null).body()).getString("status")), "job to succeed");
            assertThat(server.kafkaBootstrapServers()).isEqualTo(KAFKA.getBootstrapServers());
        }
    }
}
