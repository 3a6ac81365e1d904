package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** One job through HTTP, the embedded broker, the dispatcher, a simulated pool and back. */
class EndToEndTest {

    @Test
    void aJobGoesFromQueuedToSucceededThroughEveryRealHop() {
        InferqServer server = TestInferq.shared();
        var submit = TestInferq.http(server, "POST", "/v1/jobs",
                "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}],\"max_tokens\":16,"
                        + "\"metadata\":{\"ticket\":\"T-1\"}}");
        assertThat(submit.statusCode()).isEqualTo(202);
        JsonObject accepted = new JsonObject(submit.body());
        assertThat(accepted.getString("status")).isEqualTo("queued");
        String id = accepted.getString("id");

        AtomicReference<JsonObject> job = new AtomicReference<>();
        TestInferq.await(Duration.ofSeconds(60), () -> {
            job.set(new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + id, null).body()));
            return "succeeded".equals(job.get().getString("status"));
        }, "job " + id + " to succeed");

        JsonObject done = job.get();
        assertThat(done.getJsonObject("metadata").getString("ticket")).isEqualTo("T-1");
        assertThat(done.getString("pool")).isIn("metax-c500-lite", "mtt-s4000-lite");
        JsonObject result = done.getJsonObject("result");
        assertThat(result.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"))
                .startsWith("[simulated deepseek-v2-lite");
        assertThat(result.getJsonObject("usage").getInteger("completion_tokens")).isEqualTo(16);
        JsonObject ts = done.getJsonObject("timestamps");
        assertThat(ts.getDouble("queued_at")).isLessThanOrEqualTo(ts.getDouble("dispatched_at"));
        assertThat(ts.getDouble("dispatched_at")).isLessThanOrEqualTo(ts.getDouble("running_at"));
        assertThat(ts.getDouble("running_at")).isLessThanOrEqualTo(ts.getDouble("succeeded_at"));
    }

    @Test
    void chatCompletionsWaitsForTheQueuedJobAndAnswersInOpenAiShape() {
        InferqServer server = TestInferq.shared();
        var r = TestInferq.http(server, "POST", "/v1/chat/completions",
                "{\"model\":\"deepseek-v3\",\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"}],\"max_tokens\":12}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonObject completion = new JsonObject(r.body());
        assertThat(completion.getString("object")).isEqualTo("chat.completion");
        assertThat(completion.getString("model")).isEqualTo("deepseek-v3");
        assertThat(completion.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"))
                .startsWith("[simulated deepseek-v3");
        assertThat(completion.getJsonObject("usage").getInteger("completion_tokens")).isEqualTo(12);
        // the same job is visible through the job API
        var job = new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + completion.getString("id"), null).body());
        assertThat(job.getString("status")).isEqualTo("succeeded");
        var bad = TestInferq.http(server, "POST", "/v1/chat/completions", "{\"model\":\"deepseek-v3\",\"messages\":[]}");
        assertThat(bad.statusCode()).isEqualTo(400);
    }

    @Test
    void operationsEndpointsAnswer() {
        InferqServer server = TestInferq.shared();
        assertThat(TestInferq.http(server, "GET", "/health", null).statusCode()).isEqualTo(200);
        var ready = TestInferq.http(server, "GET", "/ready", null);
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(ready.body()).getJsonObject("components").getBoolean("pool:h800-r1")).isTrue();
        var models = new JsonObject(TestInferq.http(server, "GET", "/v1/models", null).body());
        assertThat(models.getJsonArray("data").stream().map(m -> ((JsonObject) m).getString("id")))
                .containsExactlyInAnyOrder("deepseek-r1", "deepseek-v3", "deepseek-v2-lite");
        var metrics = TestInferq.http(server, "GET", "/metrics", null);
        assertThat(metrics.headers().firstValue("content-type").orElse("")).startsWith("text/plain");
        assertThat(metrics.body()).contains("jvm_memory_used_bytes");
    }

    @Test
    void unknownRoutesAndMethodsAreJsonErrors() {
        InferqServer server = TestInferq.shared();
        var notFound = TestInferq.http(server, "GET", "/v2/nothing", null);
        assertThat(notFound.statusCode()).isEqualTo(404);
        assertThat(new JsonObject(notFound.body()).getJsonObject("error").getString("code")).isEqualTo("not_found");
        var wrongMethod = TestInferq.http(server, "DELETE", "/v1/jobs", null);
        assertThat(wrongMethod.statusCode()).isEqualTo(405);
    }
}
