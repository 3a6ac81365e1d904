package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

/**
 * Two ingress processes on one cluster: the first runs every role with the embedded broker and Hazelcast member; the
 * second runs only ingress, as a client of both. Every process's job view reads every job event, but only the one
 * whose write changes the shared view first sees it as a change; a synchronous caller waiting on the other process
 * must still get its answer.
 */
class ScaleOutIngressTest {

    @Test
    void aSynchronousCallerIsAnsweredByWhicheverIngressItCalled() {
        try (InferqServer front = TestInferq.start(tree -> { })) {
            String hzAddress = "127.0.0.1:" + front.hazelcast().getCluster().getLocalMember().getAddress().getPort();
            try (InferqServer second = TestInferq.start(tree -> {
                tree.putArray("roles").add("ingress");
                ((ObjectNode) tree.get("kafka")).put("embedded", false).put("bootstrap-servers", front.kafkaBootstrapServers());
                ObjectNode hz = (ObjectNode) tree.get("hazelcast");
                hz.put("embedded", false).put("cluster-name", front.hazelcast().getConfig().getClusterName());
                hz.putArray("members").add(hzAddress);
            })) {
                for (InferqServer target : new InferqServer[] {second, front, second, front, second, second}) {
                    var r = TestInferq.http(target, "POST", "/v1/chat/completions",
                            "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":8}");
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                    JsonObject body = new JsonObject(r.body());
                    assertThat(body.getString("object")).isEqualTo("chat.completion");
                    assertThat(body.getJsonArray("choices")).hasSize(1);
                }
            }
        }
    }
}
