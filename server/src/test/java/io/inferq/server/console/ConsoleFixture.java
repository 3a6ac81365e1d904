package io.inferq.server.console;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One inferq process for the console tests (API and browser), started once per test JVM: two tenants, an operator
 * key, a webhook receiver on loopback that answers {@code 410 Gone} to the first call on each path (so a delivery
 * fails at once) and {@code 204} after (so a replay delivers), and fast pools except the deepseek-r1 ones, which run 5000 times slower than real time so an
 * r1 job stays unfinished long enough to be cancelled.
 */
final class ConsoleFixture {
    static final String OPERATOR_KEY = "operator-console-test-key";
    static final String ACME = "acme-console-key";
    static final String GLOBEX = "globex-console-key";
    static final String FAST_MODEL = "deepseek-v2-lite";
    private static ConsoleFixture shared;

    final InferqServer server;
    final HttpServer receiver;
    final AtomicInteger receiverCalls = new AtomicInteger();
    final java.util.Map<String, AtomicInteger> callsByPath = new java.util.concurrent.ConcurrentHashMap<>();

    private ConsoleFixture() {
        try {
            receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        receiver.createContext("/hook", ex -> {
            receiverCalls.incrementAndGet();
            int n = callsByPath.computeIfAbsent(ex.getRequestURI().getPath(), k -> new AtomicInteger()).incrementAndGet();
            ex.getRequestBody().readAllBytes();
            ex.sendResponseHeaders(n == 1 ? 410 : 204, -1);
            ex.close();
        });
        receiver.start();
        server = TestInferq.start(tree -> {
            ((ObjectNode) tree.get("http")).put("operator-key", OPERATOR_KEY);
            ((ObjectNode) tree.get("webhooks")).putArray("allow-private-targets").add("127.0.0.1");
            var tenants = tree.putArray("tenants");
            tenant(tenants.addObject(), "acme", ACME);
            tenant(tenants.addObject(), "globex", GLOBEX);
            ((ObjectNode) tree.get("dispatcher")).put("batch-max-wait-ms", 600_000).put("batch-promotion-after-ms", 600_000);
        });
    }

    private static void tenant(ObjectNode t, String id, String key) {
        t.put("id", id).putArray("api-keys").add(key);
        t.putArray("webhook-secrets").add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    static synchronized ConsoleFixture get() {
        if (shared == null) {
            shared = new ConsoleFixture();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                shared.server.close();
                shared.receiver.stop(0);
            }, "console-fixture-stop"));
        }
        return shared;
    }

    String base() {
        return "http://127.0.0.1:" + server.httpPort();
    }

    /** @param name a path of its own per test (the first call on each path is answered 410) */
    String hookUrl(String name) {
        return "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook/" + name;
    }

    HttpResponse<String> call(String method, String path, String key) {
        return key == null ? TestInferq.http(server, method, path, method.equals("POST") ? "" : null)
                : TestInferq.http(server, method, path, method.equals("POST") ? "" : null, "Authorization", "Bearer " + key);
    }

    JsonObject get(String path, String key) {
        HttpResponse<String> r = call("GET", path, key);
        if (r.statusCode() != 200) {
            throw new AssertionError("GET " + path + " answered " + r.statusCode() + ": " + r.body());
        }
        return new JsonObject(r.body());
    }

    /** Submits a batch-lane job that stays queued (its batch never fills) and returns its id. */
    String submitParked(String key) {
        return submit(key, FAST_MODEL, null, "batch");
    }

    /** Submits an interactive job and returns its id. */
    String submit(String key, String model, String webhook) {
        return submit(key, model, webhook, "interactive");
    }

    private String submit(String key, String model, String webhook, String priority) {
        JsonObject body = new JsonObject().put("model", model).put("max_tokens", 4).put("priority", priority)
                .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "console test")))
                .put("metadata", new JsonObject().put("suite", "console"));
        if (webhook != null) {
            body.put("webhook", webhook);
        }
        HttpResponse<String> r = TestInferq.http(server, "POST", "/v1/jobs", body.encode(), "Authorization", "Bearer " + key);
        if (r.statusCode() != 202) {
            throw new AssertionError("submit answered " + r.statusCode() + ": " + r.body());
        }
        return new JsonObject(r.body()).getString("id");
    }

    /** @return the job's status, or null while the view does not know it yet */
    String status(String jobId) {
        HttpResponse<String> r = call("GET", "/v1/console/jobs/" + jobId, OPERATOR_KEY);
        return r.statusCode() == 404 ? null : new JsonObject(r.body()).getString("status");
    }

    void awaitStatus(String jobId, String status) {
        TestInferq.await(Duration.ofSeconds(60), () -> status.equals(status(jobId)), "job " + jobId + " " + status);
    }

    /** Waits for a failed delivery of this job and returns its id. */
    String awaitFailedDelivery(String jobId) {
        String[] id = new String[1];
        TestInferq.await(Duration.ofSeconds(60), () -> {
            for (Object o : get("/v1/console/webhooks?status=failed", OPERATOR_KEY).getJsonArray("data")) {
                JsonObject d = (JsonObject) o;
                if (jobId.equals(d.getString("job_id"))) {
                    id[0] = d.getString("id");
                    return true;
                }
            }
            return false;
        }, "a failed delivery of " + jobId);
        return id[0];
    }
}
