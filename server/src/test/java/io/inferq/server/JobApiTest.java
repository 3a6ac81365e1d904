package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The async job API of a process with two tenants: validation, auth, isolation, idempotency, limits, paging. */
class JobApiTest {
    static InferqServer server;
    static final String ACME = "Bearer acme-key";
    static final String GLOBEX = "Bearer globex-key";
    static final String LIMITED = "Bearer limited-key";
    static final String OPERATOR_KEY = "operator-key-for-tests";
    static final String OK_BODY = "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";

    @BeforeAll
    static void start() {
        server = TestInferq.start(tree -> {
            var tenants = tree.putArray("tenants");
            tenant(tenants.addObject(), "acme", "acme-key").put("max-request-bytes", 2048);
            tenant(tenants.addObject(), "globex", "globex-key");
            tenant(tenants.addObject(), "limited", "limited-key").put("requests-per-second", 1.0).put("max-queued-jobs", 1000);
            ((ObjectNode) tree.get("http")).put("operator-key", OPERATOR_KEY);
        });
    }

    private static ObjectNode tenant(ObjectNode t, String id, String key) {
        t.put("id", id).putArray("api-keys").add(key);
        t.putArray("webhook-secrets").add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        return t;
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static HttpResponse<String> post(String body, String... headers) {
        return TestInferq.http(server, "POST", "/v1/jobs", body, headers);
    }

    private static JsonObject error(HttpResponse<String> r) {
        return new JsonObject(r.body()).getJsonObject("error");
    }

    private static void assertRejected(HttpResponse<String> r, int status, String code) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonObject e = error(r);
        assertThat(e.getString("code")).isEqualTo(code);
        assertThat(e.getString("message")).isNotBlank();
        assertThat(e.getString("type")).isNotBlank();
    }

    @Test
    void everyBadInputGetsAClearErrorAndNoServerError() {
        String[][] cases = {
            {"not json", "400", "invalid_json"},
            {"[1,2]", "400", "invalid_json"},
            {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "400", "missing_model"},
            {"{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "404", "model_not_found"},
            {"{\"model\":\"deepseek-r1\"}", "400", "invalid_messages"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[]}", "400", "invalid_messages"},
            {"{\"model\":\"deepseek-r1\",\"messages\":\"hello\"}", "400", "invalid_messages"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[\"hello\"]}", "400", "invalid_messages"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "400", "invalid_role"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":42}]}", "400", "invalid_content"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "400", "invalid_max_tokens"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000000}", "400", "invalid_max_tokens"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", "400", "invalid_max_tokens"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "400", "invalid_temperature"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"priority\":\"urgent\"}", "400", "invalid_priority"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"webhook\":\"ftp://example.com/x\"}", "400", "invalid_webhook"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"webhook\":\"not a url\"}", "400", "invalid_webhook"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"webhook_events_filter\":[\"done\"]}", "400", "invalid_webhook_events_filter"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{\"k\":1}}", "400", "invalid_metadata"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"deadline\":\"yesterday\"}", "400", "invalid_deadline"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"deadline\":\"2001-01-01T00:00:00Z\"}", "400", "invalid_deadline"},
            {"{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0.5}", "400", "unsupported_parameter"},
        };
        for (String[] c : cases) {
            assertRejected(post(c[0], "Authorization", ACME), Integer.parseInt(c[1]), c[2]);
        }
        StringBuilder many = new StringBuilder("{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{");
        for (int i = 0; i < 17; i++) {
            many.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"v\"");
        }
        assertRejected(post(many.append("}}").toString(), "Authorization", ACME), 400, "invalid_metadata");
        assertRejected(post(OK_BODY, "Authorization", ACME, "Cancel-After", "soon"), 400, "invalid_deadline");
        String big = "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(3000) + "\"}]}";
        assertRejected(post(big, "Authorization", ACME), 413, "request_too_large");
        // deepseek-v2-lite's pools take at most 16,384 prompt tokens per batch: about 20,000 is refused at submit
        String tooLong = "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "word ".repeat(16_000)
                + "\"}]}";
        HttpResponse<String> longPrompt = post(tooLong, "Authorization", GLOBEX);
        assertRejected(longPrompt, 400, "prompt_too_long");
        assertThat(error(longPrompt).getString("message")).contains("at most 16384 prompt tokens");
        var models = new JsonObject(TestInferq.http(server, "GET", "/v1/models", null, "Authorization", GLOBEX).body());
        assertThat(models.getJsonArray("data").stream().map(JsonObject.class::cast)
                .filter(m -> m.getString("id").equals("deepseek-v2-lite")).findFirst().orElseThrow()
                .getInteger("max_prompt_tokens")).isEqualTo(16_384);
        assertRejected(post(OK_BODY), 401, "invalid_api_key");
        assertRejected(post(OK_BODY, "Authorization", "Bearer wrong"), 401, "invalid_api_key");
        assertRejected(TestInferq.http(server, "GET", "/v1/jobs?limit=0", null, "Authorization", ACME), 400, "invalid_limit");
        assertRejected(TestInferq.http(server, "GET", "/v1/jobs?status=done", null, "Authorization", ACME), 400, "invalid_status");
    }

    @Test
    void metricsAnswerTheOperatorKeyOnly() {
        assertRejected(TestInferq.http(server, "GET", "/metrics", null), 401, "operator_key_required");
        assertRejected(TestInferq.http(server, "GET", "/metrics", null, "Authorization", ACME), 401, "operator_key_required");
        var metrics = TestInferq.http(server, "GET", "/metrics", null, "Authorization", "Bearer " + OPERATOR_KEY);
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("inferq_http_connections_open");
    }

    @Test
    void aTenantNeverSeesAnotherTenantsJobs() {
        var r = post(OK_BODY, "Authorization", ACME);
        assertThat(r.statusCode()).isEqualTo(202);
        String id = new JsonObject(r.body()).getString("id");
        TestInferq.await(Duration.ofSeconds(30), () -> TestInferq.http(server, "GET", "/v1/jobs/" + id, null,
                "Authorization", ACME).statusCode() == 200, "job visible to its tenant");
        assertRejected(TestInferq.http(server, "GET", "/v1/jobs/" + id, null, "Authorization", GLOBEX), 404, "not_found");
        assertRejected(TestInferq.http(server, "POST", "/v1/jobs/" + id + "/cancel", null, "Authorization", GLOBEX), 404, "not_found");
        var list = new JsonObject(TestInferq.http(server, "GET", "/v1/jobs?limit=100", null, "Authorization", GLOBEX).body());
        assertThat(list.getJsonArray("data").stream().map(j -> ((JsonObject) j).getString("id"))).doesNotContain(id);
    }

    @Test
    void theSameIdempotencyKeyReturnsTheSameJobAndADifferentBodyConflicts() {
        var first = post(OK_BODY, "Authorization", ACME, "Idempotency-Key", "order-17");
        assertThat(first.statusCode()).isEqualTo(202);
        String id = new JsonObject(first.body()).getString("id");
        var again = post(OK_BODY, "Authorization", ACME, "Idempotency-Key", "order-17");
        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(again.body()).getString("id")).isEqualTo(id);
        var other = post(OK_BODY.replace("hi", "bye"), "Authorization", ACME, "Idempotency-Key", "order-17");
        assertRejected(other, 409, "idempotency_key_reused");
        // keys are per tenant
        var globex = post(OK_BODY, "Authorization", GLOBEX, "Idempotency-Key", "order-17");
        assertThat(globex.statusCode()).isEqualTo(202);
        assertThat(new JsonObject(globex.body()).getString("id")).isNotEqualTo(id);
    }

    @Test
    void aRepeatedSynchronousRequestIsAnsweredWithTheSameCompletion() throws Exception {
        String key = "sync-" + System.nanoTime();
        java.util.function.Supplier<HttpResponse<String>> call = () -> TestInferq.http(server, "POST", "/v1/chat/completions", OK_BODY,
                "Authorization", GLOBEX, "Idempotency-Key", key);
        // two callers at once (the second while the first waits), then one after the job finished
        var first = java.util.concurrent.CompletableFuture.supplyAsync(call);
        var second = java.util.concurrent.CompletableFuture.supplyAsync(call);
        List<HttpResponse<String>> answers = new ArrayList<>(List.of(first.get(60, java.util.concurrent.TimeUnit.SECONDS),
                second.get(60, java.util.concurrent.TimeUnit.SECONDS)));
        answers.add(call.get());
        String id = null;
        for (HttpResponse<String> r : answers) {
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonObject completion = new JsonObject(r.body());
            assertThat(completion.getString("object")).isEqualTo("chat.completion");
            id = id == null ? completion.getString("id") : id;
            assertThat(completion.getString("id")).as("one job for the key").isEqualTo(id);
        }
    }

    @Test
    void overTheRateLimitAnswers429WithRetryAfter() {
        List<Integer> codes = new ArrayList<>();
        HttpResponse<String> limited = null;
        for (int i = 0; i < 5; i++) {
            var r = post(OK_BODY, "Authorization", LIMITED);
            codes.add(r.statusCode());
            if (r.statusCode() == 429) {
                limited = r;
            }
        }
        assertThat(codes).contains(202, 429);
        assertThat(limited).isNotNull();
        assertThat(error(limited).getString("code")).isEqualTo("rate_limit_exceeded");
        assertThat(limited.headers().firstValue("Retry-After")).isPresent();
    }

    @Test
    void finishedJobsCannotBeCancelledAndListsPageWithACursor() {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            var r = post(OK_BODY, "Authorization", GLOBEX, "Cancel-After", "10m");
            assertThat(r.statusCode()).isEqualTo(202);
            assertThat(new JsonObject(r.body()).getDouble("deadline_at")).isGreaterThan(Instant.now().getEpochSecond() + 500.0);
            ids.add(new JsonObject(r.body()).getString("id"));
        }
        for (String id : ids) {
            TestInferq.await(Duration.ofSeconds(60), () -> "succeeded".equals(new JsonObject(TestInferq.http(server, "GET",
                    "/v1/jobs/" + id, null, "Authorization", GLOBEX).body()).getString("status")), id + " succeeded");
        }
        assertRejected(TestInferq.http(server, "POST", "/v1/jobs/" + ids.get(0) + "/cancel", null, "Authorization", GLOBEX),
                409, "job_already_finished");

        List<String> seen = new ArrayList<>();
        String after = null;
        boolean more = true;
        while (more) {
            var page = new JsonObject(TestInferq.http(server, "GET", "/v1/jobs?status=succeeded&limit=2"
                    + (after == null ? "" : "&after=" + after), null, "Authorization", GLOBEX).body());
            page.getJsonArray("data").forEach(j -> seen.add(((JsonObject) j).getString("id")));
            assertThat(page.getJsonArray("data").size()).isLessThanOrEqualTo(2);
            more = page.getBoolean("has_more");
            after = page.getString("last_id");
        }
        assertThat(seen).doesNotHaveDuplicates().containsAll(ids);
        assertRejected(TestInferq.http(server, "GET", "/v1/jobs?after=job_never_was", null, "Authorization", GLOBEX),
                400, "invalid_cursor");
        assertRejected(TestInferq.http(server, "GET", "/v1/jobs?after=" + ids.get(0), null, "Authorization", ACME),
                400, "invalid_cursor");
    }
}
