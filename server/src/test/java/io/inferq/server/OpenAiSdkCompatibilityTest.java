package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.UnexpectedStatusCodeException;
import com.openai.errors.InternalServerException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.models.Model;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * inferq driven by the official OpenAI Java SDK ({@code com.openai:openai-java}), unchanged: plain and streamed chat
 * completions, tools passed to an OpenAI-compatible engine (a tiny Vert.x server in this test) and returned,
 * {@code models.retrieve}, SDK retries that never become a second job, and a cancel during a synchronous call.
 *
 * <p>Fleet: {@code deepseek-v2-lite} on a simulated pool running in real time (so a stream's text arrives while the job
 * runs), {@code deepseek-v3} on an {@code openai-http} pool whose engine is this test's server. Synchronous calls wait
 * at most 3 s ({@code http.sync-wait-ms}).
 */
class OpenAiSdkCompatibilityTest {
    static final String HOLD = "hold this request";
    static InferqServer server;
    static Vertx engineVertx;
    static HttpServer engine;
    /** Bodies the engine received, in order. */
    static final List<JsonObject> engineRequests = new CopyOnWriteArrayList<>();
    /** Requests held by the engine until the test lets them go (by job id). */
    static final Map<String, io.vertx.ext.web.RoutingContext> held = new ConcurrentHashMap<>();
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        engineVertx = Vertx.vertx();
        io.vertx.ext.web.Router router = io.vertx.ext.web.Router.router(engineVertx);
        router.route().handler(io.vertx.ext.web.handler.BodyHandler.create());
        router.post("/v1/chat/completions").handler(OpenAiSdkCompatibilityTest::engineAnswer);
        engine = engineVertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        server = TestInferq.start(tree -> {
            ((ObjectNode) tree.get("http")).put("sync-wait-ms", 3000);
            var pools = tree.putArray("pools");
            pools.addObject().put("id", "sim-lite").put("chip", "metax-c500").put("chips-per-instance", 1).put("instances", 1)
                    .put("model", "deepseek-v2-lite").put("backend", "simulated").put("max-batch-tokens", 8192)
                    .put("max-concurrent-sequences", 16).put("time-scale", 1.0);
            var http = pools.addObject().put("id", "engine-v3").put("chip", "h800").put("chips-per-instance", 16)
                    .put("instances", 1).put("model", "deepseek-v3").put("backend", "openai-http").put("max-batch-tokens", 32768)
                    .put("max-concurrent-sequences", 16).put("time-scale", 1.0).put("engine-model", "test-engine");
            http.putArray("base-urls").add("http://127.0.0.1:" + engine.actualPort());
        });
        client = sdk(2);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        List.copyOf(held.keySet()).forEach(OpenAiSdkCompatibilityTest::release);
        if (engineVertx != null) {
            engineVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    static OpenAIClient sdk(int maxRetries) {
        return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.httpPort() + "/v1").apiKey("unused")
                .maxRetries(maxRetries).timeout(Duration.ofSeconds(30)).build();
    }

    /**
     * The test engine: a request with tools and no tool answer yet gets a tool call; a request whose last message is a
     * tool answer gets text built from it (with logprobs when asked); {@link #HOLD} is held until released.
     */
    static void engineAnswer(io.vertx.ext.web.RoutingContext ctx) {
        JsonObject body = ctx.body().asJsonObject();
        engineRequests.add(body);
        JsonArray messages = body.getJsonArray("messages");
        JsonObject last = messages.getJsonObject(messages.size() - 1);
        if (HOLD.equals(last.getString("content"))) {
            held.put(ctx.request().getHeader("X-Request-Id"), ctx);
            return;
        }
        if (Boolean.TRUE.equals(body.getBoolean("stream"))) {
            // the engine's own stream: relayed by the openai-http backend piece by piece
            var resp = ctx.response().setChunked(true).putHeader("Content-Type", "text/event-stream");
            for (String piece : List.of("Hello", " from", " the", " engine")) {
                resp.write("data: " + new JsonObject().put("id", "e").put("object", "chat.completion.chunk")
                        .put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                                .put("delta", new JsonObject().put("content", piece)).putNull("finish_reason"))).encode() + "\n\n");
            }
            resp.write("data: " + new JsonObject().put("id", "e").put("object", "chat.completion.chunk")
                    .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", new JsonObject())
                            .put("finish_reason", "stop"))).encode() + "\n\n");
            resp.write("data: " + new JsonObject().put("id", "e").put("object", "chat.completion.chunk").put("choices", new JsonArray())
                    .put("usage", new JsonObject().put("prompt_tokens", 9).put("completion_tokens", 4)).encode() + "\n\n");
            resp.end("data: [DONE]\n\n");
            return;
        }
        JsonObject message = new JsonObject().put("role", "assistant");
        String finish = "stop";
        if (body.containsKey("tools") && !"tool".equals(last.getString("role"))) {
            message.putNull("content").put("tool_calls", new JsonArray().add(new JsonObject().put("id", "call_weather_1")
                    .put("type", "function").put("function", new JsonObject().put("name", "get_weather")
                            .put("arguments", "{\"city\":\"Hangzhou\"}"))));
            finish = "tool_calls";
        } else if ("tool".equals(last.getString("role"))) {
            message.put("content", "The weather tool said: " + last.getString("content"));
        } else {
            message.put("content", "engine answer");
        }
        JsonObject choice = new JsonObject().put("index", 0).put("message", message).put("finish_reason", finish);
        if (Boolean.TRUE.equals(body.getBoolean("logprobs"))) {
            choice.put("logprobs", new JsonObject().put("content", new JsonArray().add(new JsonObject().put("token", "The")
                    .put("logprob", -0.25).put("bytes", new JsonArray().add(84).add(104).add(101))
                    .put("top_logprobs", new JsonArray()))));
        }
        ctx.json(new JsonObject().put("id", "engine-1").put("object", "chat.completion").put("created", 1_700_000_000L)
                .put("model", body.getString("model")).put("choices", new JsonArray().add(choice))
                .put("usage", new JsonObject().put("prompt_tokens", 20).put("completion_tokens", 7).put("total_tokens", 27)));
    }

    private static List<JsonObject> jobsTagged(String tag) {
        var r = TestInferq.http(server, "GET", "/v1/jobs?limit=100", null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        List<JsonObject> out = new ArrayList<>();
        new JsonObject(r.body()).getJsonArray("data").forEach(o -> {
            JsonObject job = (JsonObject) o;
            if (tag.equals(job.getJsonObject("metadata").getString("tag"))) {
                out.add(job);
            }
        });
        return out;
    }

    private static com.openai.core.JsonValue tag(String tag) {
        return JsonValue.from(Map.of("tag", tag));
    }

    @Test
    @SuppressWarnings("deprecation") // seed: deprecated by OpenAI, still sent by clients and honoured by engines
    void plainChatCompletion() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("deepseek-v2-lite")
                .addUserMessage("Say hello").maxCompletionTokens(8).seed(7).build());
        assertThat(c.id()).startsWith("job_");
        assertThat(c.choices()).hasSize(1);
        assertThat(c.choices().get(0).message().content()).hasValueSatisfying(t -> assertThat(t).contains("simulated"));
        assertThat(c.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.LENGTH);
        assertThat(c.usage()).hasValueSatisfying(u -> assertThat(u.completionTokens()).isEqualTo(8));
        assertThat(c.created()).isGreaterThan(1_700_000_000L);
    }

    @Test
    void streamedChunksArriveWhileTheJobRuns() {
        String tagValue = "stream-" + System.nanoTime();
        var params = ChatCompletionCreateParams.builder().model("deepseek-v2-lite").addUserMessage("Tell a long story")
                .maxCompletionTokens(400).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
                .putAdditionalBodyProperty("metadata", tag(tagValue)).build();
        StringBuilder text = new StringBuilder();
        List<String> statusAtFirstText = new ArrayList<>();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(piece -> {
                    if (!piece.isEmpty() && statusAtFirstText.isEmpty()) {
                        statusAtFirstText.add(jobsTagged(tagValue).get(0).getString("status"));
                    }
                    text.append(piece);
                }));
            });
        }
        // the text streams while the job runs, not after it ended: the job is not finished when its first text arrives. Its
        // status comes from the job view, fed by the job-events topic, which the token topic does not wait for, so the
        // view may still show the state before 'running' (both happen within milliseconds on the simulated engine)
        assertThat(statusAtFirstText).as("the job's status when its first text arrived").hasSize(1);
        assertThat(statusAtFirstText.get(0)).as("the job's status when its first text arrived")
                .isIn("queued", "dispatched", "running");
        long contentChunks = chunks.stream().filter(c -> c.choices().stream()
                .anyMatch(ch -> ch.delta().content().filter(s -> !s.isEmpty()).isPresent())).count();
        assertThat(contentChunks).as("text chunks").isGreaterThan(2);
        assertThat(chunks.get(0).choices().get(0).delta().role()).isPresent();
        ChatCompletionChunk finish = chunks.stream().filter(c -> c.choices().stream().anyMatch(ch -> ch.finishReason().isPresent()))
                .findFirst().orElseThrow();
        assertThat(finish.choices().get(0).finishReason()).hasValue(ChatCompletionChunk.Choice.FinishReason.LENGTH);
        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.choices()).isEmpty();
        assertThat(last.usage()).hasValueSatisfying(u -> assertThat(u.completionTokens()).isEqualTo(400));
        JsonObject job = jobsTagged(tagValue).get(0);
        assertThat(job.getString("status")).isEqualTo("succeeded");
        String output = job.getJsonObject("result").getJsonArray("choices").getJsonObject(0).getJsonObject("message")
                .getString("content");
        assertThat(text.toString()).isEqualTo(output);
        assertThat(job.getValue("created_at")).as("integer Unix seconds").isInstanceOf(Number.class).isNotInstanceOf(Double.class);

        // the same job as an async stream, after it ended: the whole answer, same format
        var again = TestInferq.http(server, "GET", "/v1/jobs/" + job.getString("id") + "/stream", null);
        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(again.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(again.body()).contains("\"object\":\"chat.completion.chunk\"").endsWith("data: [DONE]\n\n");
    }

    @Test
    void theEnginesOwnStreamIsRelayed() {
        StringBuilder text = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                ChatCompletionCreateParams.builder().model("deepseek-v3").addUserMessage("stream please")
                        .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(text::append));
            });
        }
        assertThat(text.toString()).isEqualTo("Hello from the engine");
        assertThat(engineRequests.get(engineRequests.size() - 1).getBoolean("stream")).isTrue();
        assertThat(chunks.get(chunks.size() - 1).usage()).hasValueSatisfying(u -> assertThat(u.completionTokens()).isEqualTo(4));
    }

    @Test
    @SuppressWarnings("deprecation") // seed, user: deprecated by OpenAI, still sent by clients
    void toolsReachTheEngineAndToolCallsComeBack() {
        FunctionDefinition weather = FunctionDefinition.builder().name("get_weather").description("current weather")
                .parameters(FunctionParameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string")))).build())
                .build();
        var first = ChatCompletionCreateParams.builder().model("deepseek-v3").addUserMessage("Weather in Hangzhou?")
                .addFunctionTool(weather).parallelToolCalls(false).topP(0.9).seed(3).user("tester").build();
        ChatCompletion c = client.chat().completions().create(first);
        ChatCompletionMessage message = c.choices().get(0).message();
        assertThat(c.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        assertThat(message.toolCalls()).hasValueSatisfying(calls -> assertThat(calls).hasSize(1));
        ChatCompletionMessageFunctionToolCall call = message.toolCalls().get().get(0).asFunction();
        assertThat(call.id()).isEqualTo("call_weather_1");
        assertThat(call.function().name()).isEqualTo("get_weather");
        assertThat(call.function().arguments()).contains("Hangzhou");
        JsonObject sent = engineRequests.stream().filter(b -> b.containsKey("tools")).findFirst().orElseThrow();
        assertThat(sent.getJsonArray("tools").getJsonObject(0).getJsonObject("function").getString("name")).isEqualTo("get_weather");
        assertThat(sent.getBoolean("parallel_tool_calls")).isFalse();
        assertThat(sent.getDouble("top_p")).isEqualTo(0.9);
        assertThat(sent.getInteger("seed")).isEqualTo(3);
        assertThat(sent.getString("user")).isEqualTo("tester");

        // the conversation goes on: the assistant's tool call (content null), then the tool's answer
        var second = ChatCompletionCreateParams.builder().model("deepseek-v3").addUserMessage("Weather in Hangzhou?")
                .addFunctionTool(weather).addMessage(message)
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(call.id()).content("21 C, sunny").build())
                .logprobs(true).topLogprobs(0).build();
        ChatCompletion answer = client.chat().completions().create(second);
        assertThat(answer.choices().get(0).message().content()).hasValue("The weather tool said: 21 C, sunny");
        assertThat(answer.choices().get(0).logprobs()).isPresent();
        JsonObject relayed = engineRequests.get(engineRequests.size() - 1);
        JsonArray msgs = relayed.getJsonArray("messages");
        assertThat(msgs.getJsonObject(1).getString("role")).isEqualTo("assistant");
        assertThat(msgs.getJsonObject(1).getValue("content")).isNull();
        assertThat(msgs.getJsonObject(1).getJsonArray("tool_calls").getJsonObject(0).getString("id")).isEqualTo("call_weather_1");
        assertThat(msgs.getJsonObject(2).getString("tool_call_id")).isEqualTo("call_weather_1");
    }

    @Test
    void aParameterTheSimulatedPoolCannotHonourIsRefusedByName() {
        assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("deepseek-v2-lite").addUserMessage("x").topP(0.5).build()))
                .isInstanceOfSatisfying(com.openai.errors.BadRequestException.class, e -> {
                    assertThat(e.code()).hasValue("unsupported_parameter");
                    assertThat(e.param()).hasValue("top_p");
                });
    }

    @Test
    void modelsRetrieve() {
        Model m = client.models().retrieve("deepseek-v3");
        assertThat(m.id()).isEqualTo("deepseek-v3");
        assertThat(m.ownedBy()).isNotBlank();
        assertThatThrownBy(() -> client.models().retrieve("gpt-9")).isInstanceOf(NotFoundException.class);
        assertThat(client.models().list().data()).extracting(Model::id).contains("deepseek-v2-lite", "deepseek-v3");
    }

    @Test
    void aRetriedSynchronousCallStaysOneJobAndEndsWithAnError() {
        String tagValue = "retry-" + System.nanoTime();
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> sdk(1).chat().completions().create(ChatCompletionCreateParams.builder()
                .model("deepseek-v3").addUserMessage(HOLD).putAdditionalBodyProperty("metadata", tag(tagValue)).build()))
                .isInstanceOfSatisfying(InternalServerException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(504);
                    assertThat(e.code()).hasValue("wait_timeout");
                    assertThat(e.headers().values("location")).singleElement().asString().startsWith("/v1/jobs/job_");
                });
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("first attempt and one retry, each waiting 3 s")
                .isGreaterThanOrEqualTo(Duration.ofSeconds(6));
        List<JsonObject> jobs = jobsTagged(tagValue);
        assertThat(jobs).as("jobs made by the call and its retry").hasSize(1);
        release(jobs.get(0).getString("id"));
    }

    @Test
    void anExpiredJobIsAFinalAnswerTheSdkDoesNotRetry() {
        String tagValue = "expired-" + System.nanoTime();
        assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("deepseek-v3")
                .addUserMessage("too late").putAdditionalBodyProperty("metadata", tag(tagValue))
                .putAdditionalHeader("Cancel-After", "1ms").build()))
                .isInstanceOfSatisfying(UnexpectedStatusCodeException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(408);
                    assertThat(e.headers().values("x-should-retry")).containsExactly("false");
                    assertThat(e.code()).hasValue("deadline_exceeded");
                });
        assertThat(jobsTagged(tagValue)).as("jobs made by the call (the SDK retries 408 unless told not to)").hasSize(1);
    }

    @Test
    void aCancelDuringASynchronousCallLeavesExactlyOneJob() throws Exception {
        String tagValue = "cancel-" + System.nanoTime();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        CompletableFuture<Void> call = CompletableFuture.runAsync(() -> {
            try {
                client.chat().completions().create(ChatCompletionCreateParams.builder().model("deepseek-v3")
                        .addUserMessage(HOLD).putAdditionalBodyProperty("metadata", tag(tagValue)).build());
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        TestInferq.await(Duration.ofSeconds(20), () -> jobsTagged(tagValue).stream()
                .anyMatch(j -> "running".equals(j.getString("status"))), "the job to run");
        String id = jobsTagged(tagValue).get(0).getString("id");
        var cancel = TestInferq.http(server, "POST", "/v1/jobs/" + id + "/cancel", null);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
        call.get(20, TimeUnit.SECONDS);
        assertThat(thrown.get()).isInstanceOfSatisfying(UnexpectedStatusCodeException.class, e -> {
            assertThat(e.statusCode()).isEqualTo(409);
            assertThat(e.headers().values("x-should-retry")).containsExactly("false");
        });
        assertThat(((OpenAIServiceException) thrown.get()).code()).hasValue("cancelled");
        List<JsonObject> jobs = jobsTagged(tagValue);
        assertThat(jobs).hasSize(1);
        assertThat(jobs.get(0).getString("status")).isEqualTo("cancelled");
        release(id);
    }

    private static void release(String jobId) {
        var ctx = held.remove(jobId);
        if (ctx != null) {
            // a normal answer: the engine pool's one slot is free again (a retriable failure would be run again)
            ctx.json(new JsonObject().put("id", "engine-held").put("object", "chat.completion").put("created", 1_700_000_000L)
                    .put("model", "test-engine").put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                            .put("message", new JsonObject().put("role", "assistant").put("content", "late"))
                            .put("finish_reason", "stop"))));
        }
    }
}
