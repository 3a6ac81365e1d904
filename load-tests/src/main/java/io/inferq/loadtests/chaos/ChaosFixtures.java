package io.inferq.loadtests.chaos;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The chaos run's in-process partners of the server under test: a fake OpenAI-compatible engine (for the
 * {@code openai-http} backend) and a webhook receiver, each with a fault mode the run switches. Both listen on
 * 127.0.0.1 on fixed ports, so the receiver can vanish (close its port) and come back on the same address.
 */
final class ChaosFixtures implements AutoCloseable {

    /** What the fake engine does with a request. */
    enum EngineMode { OK, TOO_MANY_REQUESTS, SERVER_ERROR, TIMEOUT }

    /** What the webhook receiver does: fail or hang a delivery's first attempt; answer 410 on {@code /gone}. */
    enum ReceiverMode { OK, FAIL_FIRST_ATTEMPT, HANG_FIRST_ATTEMPT }

    /** One webhook request as received. */
    record Received(String webhookId, String jobId, String type, String path, int status, long atMs) {
    }

    final Vertx vertx = Vertx.vertx();
    final AtomicReference<EngineMode> engineMode = new AtomicReference<>(EngineMode.OK);
    final AtomicReference<ReceiverMode> receiverMode = new AtomicReference<>(ReceiverMode.OK);
    final List<Received> received = new CopyOnWriteArrayList<>();
    final AtomicLong engineOkAtMs = new AtomicLong();
    final AtomicLong webhookOkAtMs = new AtomicLong();
    private final Set<String> attempted = ConcurrentHashMap.newKeySet();
    private HttpServer engine;
    private volatile HttpServer receiver;
    final int enginePort;
    final int receiverPort;

    ChaosFixtures(int enginePort, int receiverPort) {
        this.enginePort = enginePort;
        this.receiverPort = receiverPort;
    }

    void start() throws Exception {
        engine = vertx.createHttpServer().requestHandler(this::engine).listen(enginePort, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        receiverUp();
    }

    void receiverUp() throws Exception {
        receiver = vertx.createHttpServer().requestHandler(this::receive).listen(receiverPort, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** The receiver's port closes: deliveries meet "connection refused" until {@link #receiverUp}. */
    void receiverDown() throws Exception {
        HttpServer r = receiver;
        if (r != null) {
            r.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            receiver = null;
        }
    }

    private void engine(HttpServerRequest req) {
        req.body().onSuccess(buf -> {
            switch (engineMode.get()) {
                case TOO_MANY_REQUESTS -> req.response().setStatusCode(429).putHeader("Retry-After", "1")
                        .putHeader("Content-Type", "application/json")
                        .end(new JsonObject().put("error", new JsonObject().put("message", "chaos: busy")
                                .put("type", "rate_limit_error")).encode());
                case SERVER_ERROR -> req.response().setStatusCode(500).putHeader("Content-Type", "application/json")
                        .end(new JsonObject().put("error", new JsonObject().put("message", "chaos: engine fault")
                                .put("type", "server_error")).encode());
                case TIMEOUT -> {
                    // never answer: the backend's request timeout fires; the connection closes when the server stops
                }
                case OK -> {
                    JsonObject body;
                    try {
                        body = buf.toJsonObject();
                    } catch (RuntimeException e) {
                        req.response().setStatusCode(400).end();
                        return;
                    }
                    int max = Math.max(1, Math.min(16, body.getInteger("max_tokens", body.getInteger("max_completion_tokens", 8))));
                    engineOkAtMs.set(System.currentTimeMillis());
                    req.response().putHeader("Content-Type", "application/json").end(new JsonObject()
                            .put("id", "chatcmpl-chaos").put("object", "chat.completion").put("model", body.getString("model"))
                            .put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                                    .put("message", new JsonObject().put("role", "assistant").put("content", "ok ".repeat(max).trim()))
                                    .put("finish_reason", "length")))
                            .put("usage", new JsonObject().put("prompt_tokens", 12).put("completion_tokens", max)
                                    .put("total_tokens", 12 + max))
                            .encode());
                }
                default -> throw new IllegalStateException();
            }
        });
    }

    private void receive(HttpServerRequest req) {
        req.body().onSuccess(buf -> {
            String id = req.getHeader("webhook-id");
            String jobId = null;
            String type = null;
            try {
                JsonObject json = buf.toJsonObject();
                type = json.getString("type");
                jobId = json.getJsonObject("data", new JsonObject()).getString("id");
            } catch (RuntimeException e) {
                // recorded with a null job id: the checker reports it
            }
            boolean first = id != null && attempted.add(id);
            int status;
            if (req.path().startsWith("/gone")) {
                status = 410;
            } else if (first && receiverMode.get() == ReceiverMode.FAIL_FIRST_ATTEMPT) {
                status = 500;
            } else if (first && receiverMode.get() == ReceiverMode.HANG_FIRST_ATTEMPT) {
                received.add(new Received(id, jobId, type, req.path(), -1, System.currentTimeMillis()));
                return; // never answered: the attempt times out and is retried
            } else {
                status = 204;
                webhookOkAtMs.set(System.currentTimeMillis());
            }
            received.add(new Received(id, jobId, type, req.path(), status, System.currentTimeMillis()));
            req.response().setStatusCode(status).end();
        });
    }

    @Override
    public void close() {
        vertx.close(); // daemon-free shutdown is not waited for: the run ends right after
    }
}
