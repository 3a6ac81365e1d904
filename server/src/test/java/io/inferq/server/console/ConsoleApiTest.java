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
import java.net.http.HttpResponse;
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
        assertThat(o.getJsonObject("batches").getBoolean("available")).isFalse();
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
    void batchesSayTheApiIsNotAvailable() {
        JsonObject b = f.get("/v1/console/batches", ACME);
        assertThat(b.getBoolean("available")).isFalse();
        assertThat(b.getString("message")).isEqualTo("Batch API not available");
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
