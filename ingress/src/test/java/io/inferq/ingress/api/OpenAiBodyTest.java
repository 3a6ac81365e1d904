package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The full OpenAI chat-completions body: tool conversations, pass-through parameters, streaming flags. */
class OpenAiBodyTest {
    static final JobSubmissionParser PARSER = new JobSubmissionParser(List.of(
            new ServedModel("sim", "x", 32_768, 4096, 16_384, List.of("p1 (1 × 1 MetaX C500, simulated)")),
            new ServedModel("engine", "x", 32_768, 4096, 16_384, List.of("p2 (1 × 16 NVIDIA H800 SXM, openai-http)"))));

    private static ParseOutcome parse(JsonObject body) {
        return ParseOutcome.of(() -> PARSER.parse(body.encode(), null, 1_000_000L));
    }

    private static JsonObject body(String model) {
        return new JsonObject().put("model", model).put("messages", new JsonArray().add(new JsonObject()
                .put("role", "user").put("content", "weather?")));
    }

    @Test
    void aToolConversationIsAccepted() {
        JsonObject b = body("engine");
        b.getJsonArray("messages")
                .add(new JsonObject().put("role", "assistant").putNull("content").put("tool_calls", new JsonArray()
                        .add(new JsonObject().put("id", "call_1").put("type", "function")
                                .put("function", new JsonObject().put("name", "w").put("arguments", "{}")))))
                .add(new JsonObject().put("role", "tool").put("tool_call_id", "call_1").put("content", "sunny"));
        b.put("tools", new JsonArray().add(new JsonObject().put("type", "function")
                .put("function", new JsonObject().put("name", "w")))).put("tool_choice", "auto");
        var p = parse(b);
        assertThat(p.error()).isNull();
        var msgs = p.submission().messages();
        assertThat(msgs.get(1).content()).isEmpty();
        assertThat(msgs.get(1).toolCallsJson()).contains("call_1");
        assertThat(msgs.get(2).toolCallId()).isEqualTo("call_1");
        assertThat(new JsonObject(p.submission().optionsJson()).fieldNames()).containsExactlyInAnyOrder("tools", "tool_choice");
        assertThat(MessageExtras.encode(msgs)).startsWith("[null,{");
    }

    @Test
    void malformedToolPartsAreNamed() {
        JsonObject b = body("engine");
        b.getJsonArray("messages").add(new JsonObject().put("role", "tool").put("content", "sunny"));
        assertThat(parse(b).error().code()).isEqualTo("invalid_tool_call_id");
        JsonObject c = body("engine");
        c.getJsonArray("messages").getJsonObject(0).put("tool_calls", new JsonArray().add(new JsonObject().put("id", "x")));
        assertThat(parse(c).error().code()).isEqualTo("invalid_tool_calls");
        JsonObject d = body("engine");
        d.getJsonArray("messages").getJsonObject(0).put("content", new JsonArray().add(new JsonObject().put("type", "image_url")
                .put("image_url", new JsonObject().put("url", "http://x/y.png"))));
        assertThat(parse(d).error().code()).isEqualTo("unsupported_content");
    }

    @Test
    void aSimulatedPoolRefusesWhatItCannotHonourByName() {
        var refused = parse(body("sim").put("top_p", 0.5));
        assertThat(refused.error().code()).isEqualTo("unsupported_parameter");
        assertThat(refused.error().param()).isEqualTo("top_p");
        var ok = parse(body("sim").put("stop", new JsonArray().add("x")).put("seed", 4).put("max_completion_tokens", 9));
        assertThat(ok.error()).isNull();
        assertThat(ok.submission().maxTokens()).isEqualTo(9);
        assertThat(new JsonObject(ok.submission().optionsJson()).fieldNames()).containsExactlyInAnyOrder("stop", "seed");
        assertThat(parse(body("engine").put("top_p", 0.5).put("logprobs", true).put("top_logprobs", 2).put("user", "u")
                .put("reasoning_effort", "low").put("parallel_tool_calls", false).put("presence_penalty", 1)
                .put("frequency_penalty", -1).put("response_format", new JsonObject().put("type", "json_object")))
                .error()).isNull();
        assertThat(parse(body("engine").put("top_p", 3)).error().code()).isEqualTo("invalid_top_p");
        assertThat(parse(body("engine").put("stop", new JsonArray().add(1))).error().code()).isEqualTo("invalid_stop");
    }

    @Test
    void streamingFlags() {
        var p = parse(body("sim").put("stream", true).put("stream_options", new JsonObject().put("include_usage", true)));
        assertThat(p.submission().stream()).isTrue();
        assertThat(p.submission().includeUsage()).isTrue();
        assertThat(parse(body("sim").put("stream", "yes")).error().code()).isEqualTo("invalid_type");
        assertThat(parse(body("sim").put("stream_options", 1)).error().code()).isEqualTo("invalid_stream_options");
    }
}
