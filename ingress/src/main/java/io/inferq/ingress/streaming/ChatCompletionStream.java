package io.inferq.ingress.streaming;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * One caller's answer as Server-Sent Events in OpenAI's {@code chat.completion.chunk} format: a first chunk with the
 * assistant role, one chunk per piece of text, then (from the job's terminal snapshot) the text not streamed yet, the
 * tool calls, a chunk with {@code finish_reason}, a usage chunk when {@code stream_options.include_usage}, and
 * {@code data: [DONE]}. A job that did not succeed ends the stream with {@code data: {"error": {...}}}.
 *
 * <p><b>Bounded.</b> While the connection's write queue is full, pieces wait in a buffer of at most
 * {@value #MAX_PENDING_CHARS} characters; past that, pieces are dropped until the end, whose terminal snapshot sends
 * everything the caller has not seen yet. So what was sent is always a prefix of the final text, and nothing blocks.
 *
 * <p><b>Threading.</b> Confined to the connection's event loop.
 */
public final class ChatCompletionStream {
    static final int MAX_PENDING_CHARS = 64 * 1024;

    private final HttpServerResponse response;
    private final String id;
    private final String model;
    private final long created;
    private final boolean includeUsage;
    private final StringBuilder sent = new StringBuilder();
    private final StringBuilder pending = new StringBuilder();
    private boolean dropping;
    private boolean opened;

    /**
     * @param created Unix seconds
     */
    public ChatCompletionStream(HttpServerResponse response, String id, String model, long created, boolean includeUsage) {
        this.response = response;
        this.id = id;
        this.model = model;
        this.created = created;
        this.includeUsage = includeUsage;
    }

    /** Sends the headers and the first (role) chunk. */
    public void open() {
        if (opened || response.ended() || response.closed()) {
            return;
        }
        opened = true;
        response.setStatusCode(200).setChunked(true)
                .putHeader("Content-Type", "text/event-stream; charset=utf-8")
                .putHeader("Cache-Control", "no-cache")
                .putHeader("X-Accel-Buffering", "no")
                .putHeader("inferq-job-id", id)
                .putHeader("Location", "/v1/jobs/" + id);
        write(chunk(new JsonObject().put("role", "assistant").put("content", ""), null));
        response.drainHandler(v -> flush());
        flush(); // pieces that came before the headers could be sent
    }

    public boolean isOpen() {
        return opened && !response.ended() && !response.closed();
    }

    /** The next piece of generated text (kept until {@link #open} when it comes before). */
    public void text(String piece) {
        if (response.ended() || response.closed() || dropping || piece.isEmpty()) {
            return;
        }
        if (!opened || response.writeQueueFull() || pending.length() > 0) {
            if (pending.length() + piece.length() > MAX_PENDING_CHARS) {
                dropping = true; // the terminal snapshot sends the rest
                return;
            }
            pending.append(piece);
            return;
        }
        send(piece);
    }

    private void flush() {
        if (pending.length() > 0 && isOpen() && !response.writeQueueFull()) {
            String p = pending.toString();
            pending.setLength(0);
            send(p);
        }
    }

    private void send(String piece) {
        sent.append(piece);
        write(chunk(new JsonObject().put("content", piece), null));
    }

    /** Ends the stream with the job's terminal snapshot. */
    public void finish(JobEvent job) {
        if (!isOpen()) {
            return;
        }
        JobStatus status = JobStatus.fromWire(job.getStatus());
        if (status != JobStatus.SUCCEEDED) {
            String code = job.getError() == null ? status.apiName() : job.getError().getCode();
            String message = job.getError() == null ? "the job ended " + status.apiName() : job.getError().getMessage();
            String type = job.getError() == null ? "server_error" : job.getError().getType();
            error(type, code, message + " (job " + job.getJobId() + ")");
            return;
        }
        pending.setLength(0);
        String output = job.getOutput() == null ? "" : job.getOutput();
        String seen = sent.toString();
        if (output.startsWith(seen) && output.length() > seen.length()) {
            send(output.substring(seen.length()));
        }
        if (job.getToolCallsJson() != null) {
            JsonArray calls = new JsonArray(job.getToolCallsJson());
            JsonArray deltas = new JsonArray();
            for (int i = 0; i < calls.size(); i++) {
                JsonObject call = calls.getJsonObject(i).copy();
                deltas.add(call.put("index", i));
            }
            write(chunk(new JsonObject().put("tool_calls", deltas), null));
        }
        JsonObject last = chunk(new JsonObject(), job.getFinishReason() == null ? "stop" : job.getFinishReason());
        if (job.getLogprobsJson() != null) {
            last.getJsonArray("choices").getJsonObject(0).put("logprobs", new JsonObject(job.getLogprobsJson()));
        }
        write(last);
        if (includeUsage && job.getUsage() != null) {
            var u = job.getUsage();
            write(base().put("choices", new JsonArray()).put("usage", new JsonObject()
                    .put("prompt_tokens", u.getPromptTokens()).put("completion_tokens", u.getCompletionTokens())
                    .put("total_tokens", u.getPromptTokens() + u.getCompletionTokens())
                    .put("prompt_tokens_details", new JsonObject().put("cached_tokens", u.getCachedTokens()))));
        }
        response.end(Buffer.buffer("data: [DONE]\n\n"));
    }

    /** Ends the stream with an error event (the way OpenAI's SDKs read a failure mid-stream). */
    public void error(String type, String code, String message) {
        if (!isOpen()) {
            return;
        }
        response.end(Buffer.buffer("data: " + new JsonObject().put("error", new JsonObject().put("type", type)
                .put("code", code).put("message", message).put("param", null)).encode() + "\n\n"));
    }

    private JsonObject base() {
        JsonObject c = new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
                .put("model", model);
        if (includeUsage) {
            c.put("usage", null);
        }
        return c;
    }

    private JsonObject chunk(JsonObject delta, String finishReason) {
        return base().put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta)
                .put("logprobs", null).put("finish_reason", finishReason)));
    }

    private void write(JsonObject chunk) {
        response.write(Buffer.buffer("data: " + chunk.encode() + "\n\n"));
    }
}
