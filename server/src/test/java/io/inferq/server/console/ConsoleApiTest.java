package io.inferq.server.console;

import static io.inferq.server.console.ConsoleFixture.ACME;
import static io.inferq.server.console.ConsoleFixture.FAST_MODEL;
import static io.inferq.server.console.ConsoleFixture.GLOBEX;
import static io.inferq.server.console.ConsoleFixture.OPERATOR_KEY;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.ingress.console.ConsoleApi;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The console's JSON API against a real process: shape, authentication and tenant scoping, the two actions. */
class ConsoleApiTest {
    static ConsoleFixture f;

    @BeforeAll
    static void start() {
        f = ConsoleFixture.get();
    }

    @Test
    void everyEndpointNeedsAKey() {
        for (String path : List.of("/v1/console/overview", "/v1/console/jobs", "/v1/console/webhooks", "/v1/console/kafka",
                "/v1/console/batches")) {
            assertThat(f.call("GET", path, null).statusCode()).as(path).isEqualTo(401);
            assertThat(f.call("GET", path, "wrong-key").statusCode()).as(path).isEqualTo(401);
        }
        assertThat(f.call("POST", "/v1/console/jobs/job_x/cancel", null).statusCode()).isEqualTo(401);
    }

    @Test
    void theOverviewHasPoolsQueuesAdmissionAndSamples() {
        JsonObject o = f.get("/v1/console/overview", OPERATOR_KEY);
        assertThat(o.getString("object")).isEqualTo("console.overview");
        assertThat(o.getJsonObject("scope").getBoolean("operator")).isTrue();
        JsonArray pools = o.getJsonArray("pools");
        assertThat(pools).hasSize(5);
        JsonObject p = pools.getJsonObject(0);
        assertThat(p.fieldNames()).contains("id", "chip", "chip_name", "model", "instances", "credits_total", "credits_in_use",
                "utilisation", "batches_in_flight", "kv_hit_ratio", "engine_errors", "back_pressure");
        assertThat(p.getInteger("credits_total")).isPositive();
        assertThat(p.getLong("credits_in_use")).isNotNull();
        JsonObject q = o.getJsonObject("queues");
        assertThat(q.getBoolean("available")).isTrue();
        assertThat(q.getJsonArray("lanes").stream().map(l -> ((JsonObject) l).getString("lane"))).containsExactly("interactive", "batch");
        assertThat(o.getJsonObject("admission").getJsonObject("expired").fieldNames()).contains("interactive", "batch");
        assertThat(o.getJsonObject("batches").getBoolean("available")).isTrue();
        // samples accumulate every 2 s, and 'since' returns only newer ones
        TestInferq.await(Duration.ofSeconds(15), () -> !f.get("/v1/console/overview", OPERATOR_KEY).getJsonObject("throughput")
                .getJsonArray("samples").isEmpty(), "a throughput sample");
        JsonArray samples = f.get("/v1/console/overview", OPERATOR_KEY).getJsonObject("throughput").getJsonArray("samples");
        double last = samples.getJsonObject(samples.size() - 1).getDouble("t");
        assertThat(samples.getJsonObject(0).fieldNames()).contains("t", "in", "out", "wait_p50_ms", "wait_p99_ms", "e2e_p50_ms",
                "e2e_p99_ms", "gauges");
        assertThat(f.get("/v1/console/overview?since=" + last, OPERATOR_KEY).getJsonObject("throughput").getJsonArray("samples")
                .stream().allMatch(s -> ((JsonObject) s).getDouble("t") > last)).isTrue();
    }

    @Test
    void theOverviewIsSharedForASecond() {
        long t0 = System.nanoTime();
        double a = f.get("/v1/console/overview", OPERATOR_KEY).getDouble("generated_at");
        double b = f.get("/v1/console/overview", ACME).getDouble("generated_at");
        double c = f.get("/v1/console/overview", GLOBEX).getDouble("generated_at");
        long tookMs = (System.nanoTime() - t0) / 1_000_000;
        // calls within one TTL span at most one rebuild, whichever keys they use
        org.junit.jupiter.api.Assumptions.assumeTrue(tookMs < ConsoleApi.OVERVIEW_TTL_MS, "three calls took " + tookMs + " ms");
        assertThat(a == b || b == c).isTrue();
    }

    @Test
    void aTenantSeesOnlyItsOwnJobsAndQueuedTokensTheOperatorSeesAll() {
        String job = f.submit(ACME, FAST_MODEL, null);
        f.awaitStatus(job, "succeeded");
        JsonObject own = f.get("/v1/console/jobs/" + job, ACME);
        assertThat(own.getString("tenant")).isEqualTo("acme");
        assertThat(own.getJsonArray("timeline").stream().map(s -> ((JsonObject) s).getString("status")))
                .contains("queued", "dispatched", "running", "succeeded");
        JsonObject dispatched = own.getJsonArray("timeline").stream().map(JsonObject.class::cast)
                .filter(s -> s.getString("status").equals("dispatched")).findFirst().orElseThrow();
        assertThat(dispatched.getString("pool")).isNotBlank();
        assertThat(dispatched.getString("dispatch")).isNotBlank();
        assertThat(f.call("GET", "/v1/console/jobs/" + job, GLOBEX).statusCode()).isEqualTo(404);
        assertThat(f.get("/v1/console/jobs?id=" + job, GLOBEX).getJsonArray("data")).isEmpty();
        assertThat(f.get("/v1/console/jobs?id=" + job, ACME).getJsonArray("data")).hasSize(1);
        assertThat(f.get("/v1/console/jobs?id=" + job, OPERATOR_KEY).getJsonArray("data")).hasSize(1);
        // list: the operator's search covers every tenant; a tenant's only its own, whatever 'tenant' says
        assertThat(ids(f.get("/v1/console/jobs?status=succeeded&limit=100", OPERATOR_KEY))).contains(job);
        assertThat(ids(f.get("/v1/console/jobs?metadata=suite:console&limit=100", ACME))).contains(job);
        assertThat(ids(f.get("/v1/console/jobs?tenant=acme&limit=100", GLOBEX))).isEmpty();
        assertThat(ids(f.get("/v1/console/jobs?limit=100", GLOBEX))).doesNotContain(job);
        // queued tokens: a tenant sees its own row only
        JsonObject tenantView = f.get("/v1/console/overview", GLOBEX);
        assertThat(tenantView.getJsonObject("scope").getString("tenant")).isEqualTo("globex");
        assertThat(tenantView.getJsonObject("queues").getJsonArray("tenants").stream()
                .allMatch(t -> ((JsonObject) t).getString("tenant").equals("globex"))).isTrue();
        // fair sharing: the dispatcher's per-tenant service, backlog and counter; a tenant sees its own rows only
        TestInferq.await(Duration.ofSeconds(15), () -> f.get("/v1/console/overview", OPERATOR_KEY).getJsonObject("fairness")
                .getBoolean("available"), "the fairness section");
        JsonObject fairness = f.get("/v1/console/overview", OPERATOR_KEY).getJsonObject("fairness");
        JsonObject acmeRow = fairness.getJsonArray("tenants").stream().map(JsonObject.class::cast)
                .filter(t -> t.getString("tenant").equals("acme") && t.getString("lane").equals("interactive")).findFirst()
                .orElseThrow(() -> new AssertionError("no acme row in " + fairness.encode()));
        assertThat(acmeRow.getLong("service_tokens")).as("acme's job was dispatched: its service counts").isPositive();
        assertThat(acmeRow.getLong("backlog_jobs")).isNotNull();
        assertThat(acmeRow.getLong("virtual_counter_tokens")).isNotNull();
        assertThat(f.get("/v1/console/overview", GLOBEX).getJsonObject("fairness").getJsonArray("tenants").stream()
                .allMatch(t -> ((JsonObject) t).getString("tenant").equals("globex"))).isTrue();
        assertThat(f.call("GET", "/v1/console/jobs?status=bogus", ACME).statusCode()).isEqualTo(400);
        assertThat(f.call("GET", "/v1/console/jobs?limit=1000", ACME).statusCode()).isEqualTo(400);
    }

    private static List<String> ids(JsonObject page) {
        return page.getJsonArray("data").stream().map(j -> ((JsonObject) j).getString("id")).toList();
    }

    @Test
    void cancelIsScopedLikeTheApiAndTheOperatorMayCancelAnyJob() {
        String mine = f.submitParked(ACME);
        String other = f.submitParked(ACME);
        assertThat(f.call("POST", "/v1/console/jobs/" + mine + "/cancel", GLOBEX).statusCode()).isEqualTo(404);
        HttpResponse<String> byOwner = f.call("POST", "/v1/console/jobs/" + mine + "/cancel", ACME);
        assertThat(byOwner.statusCode()).as(byOwner.body()).isEqualTo(200);
        HttpResponse<String> byOperator = f.call("POST", "/v1/console/jobs/" + other + "/cancel", OPERATOR_KEY);
        assertThat(byOperator.statusCode()).as(byOperator.body()).isEqualTo(200);
        assertThat(new JsonObject(byOperator.body()).getString("status")).isEqualTo("cancelled");
        f.awaitStatus(other, "cancelled");
        assertThat(f.call("POST", "/v1/console/jobs/" + other + "/cancel", OPERATOR_KEY).statusCode()).isEqualTo(409);
        assertThat(f.call("POST", "/v1/console/jobs/job_unknown/cancel", OPERATOR_KEY).statusCode()).isEqualTo(404);
    }

    @Test
    void failedDeliveriesAreScopedAndReplayable() {
        String job = f.submit(ACME, FAST_MODEL, f.hookUrl("api-test"));
        String delivery = f.awaitFailedDelivery(job);
        JsonObject d = f.get("/v1/console/webhooks", ACME).getJsonArray("data").stream().map(JsonObject.class::cast)
                .filter(x -> x.getString("id").equals(delivery)).findFirst().orElseThrow();
        assertThat(d.getString("status")).isEqualTo("failed");
        assertThat(d.getInteger("last_status_code")).isEqualTo(410);
        assertThat(d.getString("last_error")).isNotBlank();
        assertThat(d.getString("tenant")).isEqualTo("acme");
        assertThat(f.get("/v1/console/webhooks", GLOBEX).getJsonArray("data").stream()
                .noneMatch(x -> ((JsonObject) x).getString("id").equals(delivery))).isTrue();
        assertThat(f.call("POST", "/v1/console/webhooks/" + delivery + "/replay", GLOBEX).statusCode()).isEqualTo(404);
        HttpResponse<String> replay = f.call("POST", "/v1/console/webhooks/" + delivery + "/replay", OPERATOR_KEY);
        assertThat(replay.statusCode()).as(replay.body()).isEqualTo(202);
        assertThat(new JsonObject(replay.body()).getString("status")).isEqualTo("pending");
        TestInferq.await(Duration.ofSeconds(30), () -> f.get("/v1/console/webhooks?status=all", OPERATOR_KEY).getJsonArray("data")
                .stream().noneMatch(x -> ((JsonObject) x).getString("id").equals(delivery)), "the replayed delivery to be delivered");
    }

    @Test
    void kafkaIsForTheOperatorAndShowsTopicsAndGroupLag() {
        assertThat(f.call("GET", "/v1/console/kafka", ACME).statusCode()).isEqualTo(403);
        TestInferq.await(Duration.ofSeconds(30), () -> f.get("/v1/console/kafka", OPERATOR_KEY).getJsonArray("groups").stream()
                .anyMatch(g -> "inferq-dispatcher".equals(((JsonObject) g).getString("group"))), "the dispatcher's group");
        JsonObject k = f.get("/v1/console/kafka", OPERATOR_KEY);
        JsonObject requests = k.getJsonArray("topics").stream().map(JsonObject.class::cast)
                .filter(t -> t.getString("name").equals("inferq.requests")).findFirst().orElseThrow();
        assertThat(requests.getInteger("partitions")).isEqualTo(2);
        assertThat(k.getJsonArray("groups").stream().map(g -> ((JsonObject) g).getString("role"))).contains("dispatcher", "workers");
    }

    @Test
    void aBatchShowsForItsTenantAndTheOperatorWithProgressAndFiles() {
        String line = new JsonObject().put("custom_id", "c0").put("method", "POST").put("url", "/v1/chat/completions")
                .put("body", new JsonObject().put("model", FAST_MODEL).put("max_tokens", 4)
                        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "console batch"))))
                .encode();
        String fileId = upload(ACME, (line + "\n" + line.replace("\"c0\"", "\"c1\"") + "\n").getBytes(StandardCharsets.UTF_8));
        HttpResponse<String> created = TestInferq.http(f.server, "POST", "/v1/batches", new JsonObject().put("input_file_id", fileId)
                .put("endpoint", "/v1/chat/completions").put("completion_window", "24h").encode(), "Authorization", "Bearer " + ACME);
        assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
        String batch = new JsonObject(created.body()).getString("id");

        JsonObject own = f.get("/v1/console/batches?limit=100", ACME);
        assertThat(own.getBoolean("available")).isTrue();
        assertThat(own.getString("object")).isEqualTo("list");
        assertThat(ids(own)).contains(batch);
        JsonObject b = consoleBatch(ACME, batch);
        assertThat(b.getString("object")).isEqualTo("batch");
        assertThat(b.getString("tenant")).isEqualTo("acme");
        assertThat(b.getString("input_file_id")).isEqualTo(fileId);
        assertThat(b.getJsonObject("request_counts").fieldNames()).contains("total", "completed", "failed");
        assertThat(b.fieldNames()).contains("status", "created_at", "output_file_id", "error_file_id").doesNotContain("_inferq");
        assertThat(ids(f.get("/v1/console/batches?limit=100", OPERATOR_KEY))).contains(batch);
        assertThat(ids(f.get("/v1/console/batches?limit=100", GLOBEX))).doesNotContain(batch);
        assertThat(f.get("/v1/console/overview", ACME).getJsonObject("batches").getBoolean("available")).isTrue();
        assertThat(f.get("/v1/console/batches?limit=1", OPERATOR_KEY).getJsonArray("data")).hasSize(1);
        assertThat(f.call("GET", "/v1/console/batches?limit=1000", ACME).statusCode()).isEqualTo(400);

        // this fixture parks the batch lane, so the batch stays in progress: the page's cancel action, then its download link
        HttpResponse<String> cancel = f.call("POST", "/v1/batches/" + batch + "/cancel", ACME);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
        assertThat(consoleBatch(ACME, batch).getString("status")).isIn("cancelling", "cancelled");
        JsonObject[] last = new JsonObject[1];
        TestInferq.await(Duration.ofSeconds(60), () -> (last[0] = consoleBatch(OPERATOR_KEY, batch)).getString("status").equals("cancelled"),
                "batch " + batch + " to be cancelled");
        assertThat(last[0].getJsonObject("request_counts").getInteger("total")).isEqualTo(2);
        String errors = last[0].getString("error_file_id");
        assertThat(errors).as(last[0].encode()).isNotNull();
        HttpResponse<String> content = f.call("GET", "/v1/files/" + errors + "/content", ACME);
        assertThat(content.statusCode()).as(content.body()).isEqualTo(200);
        assertThat(content.body()).contains("\"c0\"", "\"c1\"");
        assertThat(f.call("GET", "/v1/files/" + errors + "/content", GLOBEX).statusCode()).isEqualTo(404);
    }

    private static JsonObject consoleBatch(String key, String id) {
        return f.get("/v1/console/batches?limit=100", key).getJsonArray("data").stream().map(JsonObject.class::cast)
                .filter(x -> x.getString("id").equals(id)).findFirst().orElseThrow();
    }

    private static final HttpClient UPLOADS = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** Uploads a batch input file for {@code key} and returns its id. */
    private static String upload(String key, byte[] content) {
        String boundary = "----inferq" + System.nanoTime();
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"input.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n")
                .getBytes(StandardCharsets.UTF_8));
        body.writeBytes(content);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest request = HttpRequest.newBuilder(URI.create(f.base() + "/v1/files")).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary).header("Authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build();
        try {
            HttpResponse<String> r = UPLOADS.send(request, HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            return new JsonObject(r.body()).getString("id");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Test
    void thePageIsServedFromTheJarWithoutThirdPartyOrigins() {
        HttpResponse<String> page = f.call("GET", "/console/", null);
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type").orElse("")).startsWith("text/html");
        assertThat(page.headers().firstValue("Content-Security-Policy").orElse("")).contains("default-src 'self'");
        assertThat(page.body()).contains("console.js").doesNotContain("http://", "https://");
        for (String asset : List.of("/console/console.js", "/console/charts.js", "/console/console.css")) {
            HttpResponse<String> r = f.call("GET", asset, null);
            assertThat(r.statusCode()).as(asset).isEqualTo(200);
            // the SVG namespace is a name, not a request
            assertThat(r.body().replace("http://www.w3.org/2000/svg", "")).as(asset).doesNotContain("https://", "http://");
        }
    }
}
