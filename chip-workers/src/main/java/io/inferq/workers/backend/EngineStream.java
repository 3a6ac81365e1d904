package io.inferq.workers.backend;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.streams.WriteStream;
import java.time.Clock;
import java.nio.charset.StandardCharsets;

/**
 * Reads an engine's streamed chat completion ({@code stream: true}: Server-Sent Events of {@code chat.completion.chunk}s
 * ending with {@code data: [DONE]}) as it arrives: hands each content delta to a {@link TokenSink}, and assembles the
 * whole answer — text, tool calls (merged by {@code index}), finish reason, usage, logprobs — for the sequence's
 * outcome. The raw bytes (at most {@value #MAX_RAW_BYTES}) are kept for an error answer.
 *
 * <p><b>Threading.</b> Written on one event loop by the HTTP client; read after the response ended.
 */
final class EngineStream implements WriteStream<Buffer> {
    static final int MAX_RAW_BYTES = 64 * 1024;

    private final String jobId;
    private final TokenSink sink;
    private final StringBuilder line = new StringBuilder();
    private final StringBuilder text = new StringBuilder();
    private final StringBuilder raw = new StringBuilder();
    private final JsonArray toolCalls = new JsonArray();
    private JsonArray logprobContent;
    private String finishReason;
    private JsonObject usage;
    private boolean sawChunk;
    private long firstTokenAtMs = -1;
    private final Clock clock;

    EngineStream(String jobId, TokenSink sink, Clock clock) {
        this.jobId = jobId;
        this.sink = sink;
        this.clock = clock;
    }

    @Override
    public WriteStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
        return this;
    }

    @Override
    public Future<Void> write(Buffer data) {
        String s = data.toString(StandardCharsets.UTF_8);
        if (raw.length() < MAX_RAW_BYTES) {
            raw.append(s, 0, Math.min(s.length(), MAX_RAW_BYTES - raw.length()));
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                onLine(line.toString());
                line.setLength(0);
            } else if (c != '\r') {
                line.append(c);
            }
        }
        return Future.succeededFuture();
    }

    @Override
    public Future<Void> end() {
        if (line.length() > 0) {
            onLine(line.toString());
            line.setLength(0);
        }
        return Future.succeededFuture();
    }

    @Override
    public WriteStream<Buffer> setWriteQueueMaxSize(int maxSize) {
        return this;
    }

    @Override
    public boolean writeQueueFull() {
        return false;
    }

    @Override
    public WriteStream<Buffer> drainHandler(Handler<Void> handler) {
        return this;
    }

    private void onLine(String l) {
        if (!l.startsWith("data:")) {
            return;
        }
        String data = l.substring(5).trim();
        if (data.isEmpty() || data.equals("[DONE]")) {
            return;
        }
        JsonObject chunk;
        try {
            chunk = new JsonObject(data);
        } catch (DecodeException e) {
            return;
        }
        sawChunk = true;
        if (chunk.getValue("usage") instanceof JsonObject u) {
            usage = u;
        }
        JsonArray choices = chunk.getJsonArray("choices");
        if (choices == null || choices.isEmpty()) {
            return;
        }
        JsonObject choice = choices.getJsonObject(0);
        if (choice.getValue("finish_reason") instanceof String f) {
            finishReason = f;
        }
        if (choice.getValue("logprobs") instanceof JsonObject lp && lp.getValue("content") instanceof JsonArray content) {
            if (logprobContent == null) {
                logprobContent = new JsonArray();
            }
            logprobContent.addAll(content);
        }
        JsonObject delta = choice.getJsonObject("delta");
        if (delta == null) {
            return;
        }
        if (delta.getValue("content") instanceof String piece && !piece.isEmpty()) {
            if (firstTokenAtMs < 0) {
                firstTokenAtMs = clock.millis();
            }
            text.append(piece);
            sink.tokens(jobId, piece);
        }
        if (delta.getValue("tool_calls") instanceof JsonArray calls) {
            for (Object o : calls) {
                if (o instanceof JsonObject call) {
                    merge(call);
                }
            }
        }
    }

    /** Tool-call deltas: the first names id, type and function name; later ones add to the arguments. */
    private void merge(JsonObject delta) {
        int index = delta.getInteger("index", toolCalls.size());
        while (toolCalls.size() <= index) {
            toolCalls.add(new JsonObject().put("type", "function").put("function", new JsonObject().put("name", "")
                    .put("arguments", "")));
        }
        JsonObject call = toolCalls.getJsonObject(index);
        if (delta.getValue("id") instanceof String id) {
            call.put("id", id);
        }
        if (delta.getValue("type") instanceof String type) {
            call.put("type", type);
        }
        if (delta.getValue("function") instanceof JsonObject f) {
            JsonObject fn = call.getJsonObject("function");
            if (f.getValue("name") instanceof String name) {
                fn.put("name", fn.getString("name") + name);
            }
            if (f.getValue("arguments") instanceof String args) {
                fn.put("arguments", fn.getString("arguments") + args);
            }
        }
    }

    /** @return the raw answer (for an error status) */
    String raw() {
        return raw.toString();
    }

    /** @return the assembled outcome, or null when no chunk could be read */
    SequenceOutcome.Completed completed(SequenceWork sequence, long nowMs) {
        if (!sawChunk) {
            return null;
        }
        int prompt = usage == null ? sequence.promptTokens() : usage.getInteger("prompt_tokens", sequence.promptTokens());
        int completion = usage == null ? 0 : usage.getInteger("completion_tokens", 0);
        JsonObject details = usage == null ? null : usage.getJsonObject("prompt_tokens_details");
        int cached = details == null ? 0 : details.getInteger("cached_tokens", 0);
        return new SequenceOutcome.Completed(sequence.jobId(), text.toString(), finishReason == null ? "stop" : finishReason,
                prompt, completion, cached,
                firstTokenAtMs < 0 ? SequenceOutcome.Completed.UNKNOWN_FIRST_TOKEN : firstTokenAtMs, nowMs,
                toolCalls.isEmpty() ? null : toolCalls.encode(),
                logprobContent == null ? null : new JsonObject().put("content", logprobContent).encode());
    }
}
