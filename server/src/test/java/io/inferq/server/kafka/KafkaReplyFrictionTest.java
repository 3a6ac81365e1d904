package io.inferq.server.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Kafka request/reply as a JSON producer meets it: a JSON request gets a JSON result; JSON sent without content-type is
 * recognised; a refused request with a reply topic and a correlation id gets an error result there, not only a
 * dead-letter copy.
 */
class KafkaReplyFrictionTest {

    private static JsonObject jsonResult(ConsumerRecord<String, byte[]> r) {
        assertThat(KafkaContractClient.header(r, "content-type")).isEqualTo("application/json");
        return new JsonObject(new String(r.value(), StandardCharsets.UTF_8));
    }

    @Test
    void jsonInJsonOutAndRefusalsAnswered() throws Exception {
        InferqServer server = TestInferq.shared();
        String reply = "friction-replies-" + UUID.randomUUID();
        KafkaContractClient.createTopic(server, reply);
        try (KafkaProducer<String, byte[]> p = KafkaContractClient.producer(server)) {
            p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "s1", KafkaContractClient.chatJson("deepseek-v2-lite", "hi", 4),
                    "inferq-reply-topic", reply, "inferq-correlation-id", "with-type")).get();
            ProducerRecord<String, byte[]> untyped = new ProducerRecord<>(TopicCatalogue.REQUESTS, "s2",
                    KafkaContractClient.chatJson("deepseek-v2-lite", "hello", 4).getBytes(StandardCharsets.UTF_8));
            untyped.headers().add("inferq-reply-topic", reply.getBytes(StandardCharsets.UTF_8));
            untyped.headers().add("inferq-correlation-id", "no-type".getBytes(StandardCharsets.UTF_8));
            p.send(untyped).get();
            p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "s3", KafkaContractClient.chatJson("gpt-9", "x", 4),
                    "inferq-reply-topic", reply, "inferq-correlation-id", "refused")).get();
        }
        List<ConsumerRecord<String, byte[]>> got = KafkaContractClient.readUntil(server, List.of(reply), "read_committed",
                all -> all.size() >= 3, Duration.ofSeconds(60), Duration.ZERO);
        java.util.Map<String, JsonObject> byCorrelation = new java.util.HashMap<>();
        got.forEach(r -> byCorrelation.put(KafkaContractClient.header(r, "inferq-correlation-id"), jsonResult(r)));
        assertThat(byCorrelation.get("with-type").getString("status")).isEqualTo("succeeded");
        assertThat(byCorrelation.get("with-type").getString("output")).contains("simulated");
        assertThat(byCorrelation.get("no-type").getString("status")).isEqualTo("succeeded");
        JsonObject refused = byCorrelation.get("refused");
        assertThat(refused.getString("status")).isEqualTo("failed");
        assertThat(refused.getJsonObject("error").getString("code")).isEqualTo("model_not_found");
        assertThat(refused.getString("correlation_id")).isEqualTo("refused");
    }
}
