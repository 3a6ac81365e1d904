package io.inferq.workers.backend;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against an in-test HTTP server speaking the OpenAI chat-completions protocol; instance i is path /i. */
class OpenAiHttpBackendTest {
    static Vertx vertx;
    static HttpServer server;
    static int port;
    static final Map<String, Deque<Consumer<HttpServerRequest>>> SCRIPTS = new ConcurrentHashMap<>();
    static final List<String> RECEIVED = new CopyOnWriteArrayList<>();
    static final List<JsonObject> BODIES = new CopyOnWriteArrayList<>();

    final ManualClock clock = new ManualClock(1_700_000_000_000L);
    OpenAiHttpBackend backend;

    @BeforeAll
    static void startEngine() throws Exception {
        vertx = Vertx.vertx();
        server = vertx.createHttpServer().requestHandler(request -> request.body().onSuccess(body -> {
            String instance = request.path().split("/")[1];
            RECEIVED.add(instance + " " + request.method() + " " + request.path() + " " + request.getHeader("X-Request-Id"));
            BODIES.add(body.toJsonObject());
            Deque<Consumer<HttpServerRequest>> script = SCRIPTS.get(instance);
            Consumer<HttpServerRequest> reply = script == null ? null : script.poll();
            if (reply == null) {
                request.response().setStatusCode(404).end();
            } else {
                reply.accept(request);
            }
        })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        port = server.actualPort();
    }

    @AfterAll
    static void stopEngine() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void reset() {
        if (backend != null) {
            backend.close();
        }
        SCRIPTS.clear();
        RECEIVED.clear();
        BODIES.clear();
    }

    static void script(String instance, List<Consumer<HttpServerRequest>> replies) {
        SCRIPTS.put(instance, new ArrayDeque<>(replies));
    }

    static Consumer<HttpServerRequest> ok(String text) {
        return request -> request.response().setStatusCode(200).putHeader("content-type", "application/json")
                .end(new JsonObject()
                        .put("id", "chatcmpl-1").put("object", "chat.completion").put("model", "engine-r1")
                        .put("choices", List.of(new JsonObject().put("index", 0).put("finish_reason", "stop")
                                .put("message", new JsonObject().put("role", "assistant").put("content", text))))
                        .put("usage", new JsonObject().put("prompt_tokens", 12).put("completion_tokens", 5)
                                .put("total_tokens", 17)
                                .put("prompt_tokens_details", new JsonObject().put("cached_tokens", 8)))
                        .encode());
    }

    static Consumer<HttpServerRequest> status(int code, String retryAfter, JsonObject body) {
        return request -> {
            var response = request.response().setStatusCode(code).putHeader("content-type", "application/json");
            if (retryAfter != null) {
                response.putHeader("Retry-After", retryAfter);
            }
            response.end(body == null ? "" : body.encode());
        };
    }

    static JsonObject openAiError(String message, String type, String code) {
        return new JsonObject().put("error", new JsonObject().put("message", message).put("type", type)
                .put("param", (Object) null).put("code", code));
    }

    OpenAiHttpBackend backend(int instances, int maxRetries, Duration requestTimeout) {
        List<URI> urls = java.util.stream.IntStream.range(0, instances)
                .mapToObj(i -> URI.create("http://127.0.0.1:" + port + "/i" + i)).toList();
        OpenAiHttpSettings settings = OpenAiHttpSettings.of(urls, "engine-r1")
                .withTimeouts(Duration.ofSeconds(2), requestTimeout, Duration.ofSeconds(30))
                .withMaxRetries(maxRetries);
        backend = new OpenAiHttpBackend(vertx, settings, 8, clock);
        return backend;
    }

    static BatchWork batch(int instance, String... jobIds) {
        return new BatchWork("b", "pool", instance, java.util.Arrays.stream(jobIds)
                .map(id -> new SequenceWork(id, "deepseek-r1", List.of(new SequenceWork.Message("user", "hello " + id)),
                        12, 64, 0.7, 0))
                .toList());
    }

    @Test
    void completesEverySequenceConcurrentlyWithUsage() throws InterruptedException {
        script("i0", List.of(ok("one"), ok("two")));
        List<SequenceOutcome> outcomes = backend(1, 2, Duration.ofSeconds(5)).run(batch(0, "j1", "j2"));

        assertThat(outcomes).allSatisfy(o -> assertThat(o).isInstanceOf(SequenceOutcome.Completed.class));
        var first = (SequenceOutcome.Completed) outcomes.get(0);
        assertThat(first.jobId()).isEqualTo("j1");
        assertThat(List.of(first.text(), ((SequenceOutcome.Completed) outcomes.get(1)).text()))
                .containsExactlyInAnyOrder("one", "two");
        assertThat(first.promptTokens()).isEqualTo(12);
        assertThat(first.completionTokens()).isEqualTo(5);
        assertThat(first.cachedTokens()).isEqualTo(8);
        assertThat(first.finishReason()).isEqualTo("stop");
        assertThat(first.finishedAtMs()).isEqualTo(clock.millis());

        assertThat(RECEIVED).containsExactlyInAnyOrder("i0 POST /i0/v1/chat/completions j1",
                "i0 POST /i0/v1/chat/completions j2");
        JsonObject body = BODIES.get(0);
        assertThat(body.getString("model")).isEqualTo("engine-r1");
        assertThat(body.getInteger("max_tokens")).isEqualTo(64);
        assertThat(body.getDouble("temperature")).isEqualTo(0.7);
        assertThat(body.getBoolean("stream")).isFalse();
        assertThat(body.getJsonArray("messages").getJsonObject(0).getString("role")).isEqualTo("user");
        assertThat(body.containsKey("priority")).as("not sent unless the pool asks for it").isFalse();
        assertThat(backend.availableCredits(0)).isEqualTo(8);
    }

    @Test
    void sendsTheBatchsEnginePriorityAsVllmsPriorityFieldWhenThePoolAsksForIt() throws InterruptedException {
        script("i0", List.of(ok("one")));
        script("i1", List.of(ok("two")));
        OpenAiHttpSettings settings = OpenAiHttpSettings.of(List.of(URI.create("http://127.0.0.1:" + port + "/i0"),
                URI.create("http://127.0.0.1:" + port + "/i1")), "engine-r1").withSendPriority(true);
        backend = new OpenAiHttpBackend(vertx, settings, 8, clock);
        BatchWork lane = new BatchWork("b", "pool", 0, batch(0, "j1").sequences(), 2);
        assertThat(backend.run(lane)).singleElement().isInstanceOf(SequenceOutcome.Completed.class);
        BatchWork interactive = new BatchWork("c", "pool", 1, batch(1, "j2").sequences(), 0);
        assertThat(backend.run(interactive)).singleElement().isInstanceOf(SequenceOutcome.Completed.class);
        assertThat(BODIES).extracting(b -> b.getInteger("priority")).containsExactly(2, 0);
    }

    @Test
    void tooManyRequestsIsBackPressureHonouringRetryAfter() throws InterruptedException {
        script("i0", List.of(status(429, "7", openAiError("engine is busy", "server_error", "overloaded"))));
        List<SequenceOutcome> outcomes = backend(1, 2, Duration.ofSeconds(5)).run(batch(0, "j1"));

        var failed = (SequenceOutcome.Failed) outcomes.get(0);
        var error = (InferenceError.BackPressure) failed.error();
        assertThat(error.retryAfterMs()).isEqualTo(7000);
        assertThat(error.retriable()).isTrue();
        assertThat(error.message()).contains("HTTP 429").contains("engine is busy");
        // single instance: no other instance to retry on
        assertThat(RECEIVED).hasSize(1);
        assertThat(backend.isBackingOff(0)).isTrue();
        assertThat(backend.availableCredits(0)).isZero();
        assertThat(backend.creditLimit(0)).isEqualTo(4);

        clock.advanceMillis(7000);
        assertThat(backend.isBackingOff(0)).isFalse();
        assertThat(backend.availableCredits()).isEqualTo(4);
    }

    @Test
    void serviceUnavailableIsBackPressureWithADefaultDelay() throws InterruptedException {
        script("i0", List.of(status(503, null, null)));
        var failed = (SequenceOutcome.Failed) backend(1, 2, Duration.ofSeconds(5)).run(batch(0, "j1")).get(0);
        assertThat(failed.error()).isEqualTo(new InferenceError.BackPressure("engine_overloaded",
                "HTTP 503 from http://127.0.0.1:" + port + "/i0/v1/chat/completions",
                ChatCompletionExchange.DEFAULT_RETRY_AFTER_MS));
    }

    @Test
    void serverErrorIsRetriedOnAnotherInstance() throws InterruptedException {
        script("i0", List.of(status(500, null, openAiError("CUDA error", "server_error", null))));
        script("i1", List.of(ok("from i1")));
        List<SequenceOutcome> outcomes = backend(2, 2, Duration.ofSeconds(5)).run(batch(0, "j1"));

        assertThat(((SequenceOutcome.Completed) outcomes.get(0)).text()).isEqualTo("from i1");
        assertThat(RECEIVED).containsExactly("i0 POST /i0/v1/chat/completions j1",
                "i1 POST /i1/v1/chat/completions j1");
    }

    @Test
    void retriesStopAtTheLimit() throws InterruptedException {
        for (String i : List.of("i0", "i1", "i2")) {
            script(i, List.of(status(502, null, null)));
        }
        var failed = (SequenceOutcome.Failed) backend(3, 1, Duration.ofSeconds(5)).run(batch(0, "j1")).get(0);

        assertThat(failed.error()).isInstanceOf(InferenceError.Transient.class);
        assertThat(failed.error().code()).isEqualTo("engine_error");
        assertThat(RECEIVED).hasSize(2);
    }

    @Test
    void badRequestIsFatalWithTheEnginesMessageAndNotRetried() throws InterruptedException {
        script("i0", List.of(status(400, null, openAiError(
                "This model's maximum context length is 4096 tokens.", "invalid_request_error",
                "context_length_exceeded"))));
        script("i1", List.of(ok("must not be called")));
        var failed = (SequenceOutcome.Failed) backend(2, 2, Duration.ofSeconds(5)).run(batch(0, "j1")).get(0);

        assertThat(failed.error()).isEqualTo(new InferenceError.Fatal("invalid_request_error",
                "context_length_exceeded", "This model's maximum context length is 4096 tokens."));
        assertThat(RECEIVED).hasSize(1);
    }

    @Test
    void vllmStyleTopLevelErrorIsUnderstood() {
        SequenceWork s = batch(0, "j").sequences().get(0);
        var outcome = (SequenceOutcome.Failed) ChatCompletionExchange.fromResponse(s, "u", 404,
                null, "{\"object\":\"error\",\"message\":\"The model `x` does not exist.\",\"type\":\"NotFoundError\",\"param\":null,\"code\":404}",
                0);
        assertThat(outcome.error()).isEqualTo(new InferenceError.Fatal("NotFoundError", "404",
                "The model `x` does not exist."));
    }

    @Test
    void silenceBeyondTheRequestTimeoutIsTransient() throws InterruptedException {
        script("i0", List.of(request -> { /* never answers */ }));
        long started = System.nanoTime();
        var failed = (SequenceOutcome.Failed) backend(1, 0, Duration.ofMillis(300)).run(batch(0, "j1")).get(0);

        assertThat(failed.error().code()).isEqualTo("engine_timeout");
        assertThat(failed.error().retriable()).isTrue();
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void unreachableEngineIsTransient() throws InterruptedException {
        OpenAiHttpSettings settings = OpenAiHttpSettings.of(List.of(URI.create("http://127.0.0.1:1")), "m")
                .withMaxRetries(0);
        backend = new OpenAiHttpBackend(vertx, settings, 4, clock);
        var failed = (SequenceOutcome.Failed) backend.run(batch(0, "j1")).get(0);
        assertThat(failed.error()).isInstanceOf(InferenceError.Transient.class);
        assertThat(failed.error().code()).isIn("engine_unreachable", "engine_connection_error");
    }

    @Test
    void retryAfterAcceptsAnHttpDate() {
        long now = java.time.ZonedDateTime.parse("Wed, 21 Oct 2015 07:28:00 GMT",
                java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
        assertThat(ChatCompletionExchange.retryAfterMs("Wed, 21 Oct 2015 07:28:30 GMT", now)).isEqualTo(30_000);
        assertThat(ChatCompletionExchange.retryAfterMs("soon", now)).isEqualTo(1000);
    }
}
