package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fair credits through the whole running system (HTTP, Kafka, the dispatcher, a real worker slot and the simulated
 * continuous-batching engine): one pool with one instance and one batch credit, busy with a heavy tenant's long batch
 * and a backlog behind it. A light tenant's job arrives: it is sent at once on a fair credit, to the same instance's
 * only stream (the slot holds two batches of its partition at once), and the engine admits it ahead of the heavy
 * sequences (priority, as vLLM's {@code --scheduling-policy priority}). So it ends before the heavy batch that was
 * already running — without fair credits, or with a slot that runs one batch at a time, it would wait for that batch.
 * Order, not wall-clock thresholds, is asserted.
 */
class FairCreditsPipelineTest {
    private static final String HEAVY = "Bearer heavy-key";
    private static final String LIGHT = "Bearer light-key";

    private static String body(int maxTokens, String text) {
        return new JsonObject().put("model", "deepseek-v2-lite").put("max_tokens", maxTokens)
                .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user").put("content", text)))
                .encode();
    }

    private static String submit(InferqServer server, String key, int maxTokens, String text) {
        HttpResponse<String> r = TestInferq.http(server, "POST", "/v1/jobs", body(maxTokens, text), "Authorization", key);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        return new JsonObject(r.body()).getString("id");
    }

    private static JsonObject job(InferqServer server, String key, String id) {
        return new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + id, null, "Authorization", key).body());
    }

    @Test
    void aLightTenantsJobOvertakesTheHeavyBatchAlreadyRunningOnTheOnlyInstance() {
        try (InferqServer server = TestInferq.start(tree -> {
            var tenants = tree.putArray("tenants");
            tenants.addObject().put("id", "heavy").putArray("api-keys").add("heavy-key");
            tenants.addObject().put("id", "light").putArray("api-keys").add("light-key");
            ObjectNode dispatcher = (ObjectNode) tree.get("dispatcher");
            dispatcher.put("max-in-flight-batches-per-instance", 1).put("headroom-credits", 0);
            ((ObjectNode) dispatcher.get("fairness")).put("enabled", true).put("fair-credits", true);
            var pools = tree.putArray("pools");
            // real time: a heavy job decodes 1,500 tokens, seconds on this instance; 8 sequences at once
            pools.addObject().put("id", "lite").put("chip", "metax-c500").put("chips-per-instance", 1).put("instances", 1)
                    .put("model", "deepseek-v2-lite").put("backend", "simulated").put("max-batch-tokens", 16384)
                    .put("max-concurrent-sequences", 8).put("time-scale", 1.0);
        })) {
            List<String> heavy = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                heavy.add(submit(server, HEAVY, 1500, "heavy job " + i + " " + "x ".repeat(200)));
            }
            // the first heavy batch holds the instance's only credit and runs in its engine
            TestInferq.await(Duration.ofSeconds(60), () -> heavy.stream()
                    .anyMatch(id -> "running".equals(job(server, HEAVY, id).getString("status"))), "a heavy batch running");
            String light = submit(server, LIGHT, 4, "light job");
            TestInferq.await(Duration.ofSeconds(120), () -> "succeeded".equals(job(server, LIGHT, light).getString("status")),
                    "the light job to succeed");
            long lightDone = job(server, LIGHT, light).getJsonObject("timestamps_ms").getLong("succeeded_at");
            List<String> heavyDone = new ArrayList<>();
            for (String id : heavy) {
                JsonObject j = job(server, HEAVY, id);
                if ("succeeded".equals(j.getString("status")) && j.getJsonObject("timestamps_ms").getLong("succeeded_at") <= lightDone) {
                    heavyDone.add(id);
                }
            }
            assertThat(heavyDone).as("heavy jobs that ended before the light one (it came after their batch started)").isEmpty();
            JsonObject l = job(server, LIGHT, light);
            assertThat(l.getString("pool")).isEqualTo("lite");
        }
    }
}
