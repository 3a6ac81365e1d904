package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code dispatcher.batch-yield-delay-ms} through the running system (HTTP, Kafka, the dispatcher, a worker, the
 * simulated engine): with batch-lane work queued, interactive requests through the ingress start the pace (the gauge
 * {@code inferq_dispatcher_batch_yield_pace} turns from -1 to a pace of at least 1 job/s), and a paced batch lane still
 * finishes every job, as does every interactive job. The control law itself is {@code BatchLaneYieldTest}'s (fake
 * clock); this test asserts the wiring and that pacing loses nothing, not timings.
 */
class BatchLaneYieldPipelineTest {
    private static final String OPERATOR = "Bearer operator-key-for-tests";
    private static final Pattern PACE = Pattern.compile("(?m)^inferq_dispatcher_batch_yield_pace(?:\\{[^}]*\\})? (\\S+)$");

    private static String submit(InferqServer server, String priority, String text) {
        String body = new JsonObject().put("model", "deepseek-v2-lite").put("max_tokens", 4).put("priority", priority)
                .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", text))).encode();
        HttpResponse<String> r = TestInferq.http(server, "POST", "/v1/jobs", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        return new JsonObject(r.body()).getString("id");
    }

    private static String status(InferqServer server, String id) {
        return new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + id, null).body()).getString("status");
    }

    private static double pace(InferqServer server) {
        HttpResponse<String> r = TestInferq.http(server, "GET", "/metrics", null, "Authorization", OPERATOR);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        Matcher m = PACE.matcher(r.body());
        assertThat(m.find()).as("the batch-lane yield's gauge is exported").isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void interactiveIntakeStartsThePaceAndAPacedBatchLaneStillFinishesEveryJob() {
        try (InferqServer server = TestInferq.start(tree -> {
            ((ObjectNode) tree.get("http")).put("operator-key", "operator-key-for-tests");
            ObjectNode dispatcher = (ObjectNode) tree.get("dispatcher");
            dispatcher.put("batch-yield-delay-ms", 20).put("batch-max-wait-ms", 10);
            var pools = tree.putArray("pools");
            pools.addObject().put("id", "lite").put("chip", "metax-c500").put("chips-per-instance", 1).put("instances", 1)
                    .put("model", "deepseek-v2-lite").put("backend", "simulated").put("max-batch-tokens", 16384)
                    .put("max-concurrent-sequences", 8).put("time-scale", 1.0);
        })) {
            assertThat(pace(server)).as("no interactive request yet: not paced").isEqualTo(-1);
            List<String> batch = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                batch.add(submit(server, "batch", "batch line " + i));
            }
            List<String> interactive = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                interactive.add(submit(server, "interactive", "interactive " + i));
            }
            TestInferq.await(Duration.ofSeconds(60), () -> interactive.stream().allMatch(id -> "succeeded".equals(status(server, id))),
                    "every interactive job to succeed");
            assertThat(pace(server)).as("interactive intake seen within the idle window: the batch lane is paced")
                    .isGreaterThanOrEqualTo(1);
            TestInferq.await(Duration.ofSeconds(120), () -> batch.stream().allMatch(id -> "succeeded".equals(status(server, id))),
                    "every batch-lane job to succeed while paced");
        }
    }
}
