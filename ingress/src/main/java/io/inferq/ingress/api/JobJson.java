package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobLane;
import io.inferq.job.JobStatus;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Map;

/**
 * The job object of the HTTP API and of webhook payloads, built from a job snapshot.
 *
 * <pre>{@code
 * {"id", "object": "job", "status", "model", "priority", "created_at", "deadline_at",
 *  "timestamps": {"queued_at", "dispatched_at", "running_at", "first_token_at", "succeeded_at", ...},
 *  "timestamps_ms": the same in epoch milliseconds,
 *  "metadata", "webhook", "pool", "chip",
 *  "result": {"choices": [{"index", "message": {"role", "content"}, "finish_reason"}], "usage": {...}},
 *  "error": {"type", "code", "message"}}
 * }</pre>
 * Times are integer Unix seconds. Stateless.
 */
public final class JobJson {
    private JobJson() {
    }

    /**
     * @param inlineOutputLimit outputs longer than this many characters are left out and
     *                          {@code result.output_url} points at the job instead (webhooks); use
     *                          {@link Integer#MAX_VALUE} to always inline
     */
    public static JsonObject toJson(JobEvent e, int inlineOutputLimit) {
        JobStatus status = JobStatus.fromWire(e.getStatus());
        Map<String, Long> times = e.getStateTimes();
        JsonObject ts = new JsonObject();
        JsonObject tsMs = new JsonObject();
        times.forEach((k, v) -> {
            ts.put(k + "_at", seconds(v));
            tsMs.put(k + "_at", v); // the same instants in epoch milliseconds, for latency measurements
        });
        JsonObject job = new JsonObject()
                .put("id", e.getJobId())
                .put("object", "job")
                .put("status", status.apiName())
                .put("model", e.getModel())
                .put("priority", JobLane.fromWire(e.getLane()).apiName())
                .put("created_at", seconds(times.getOrDefault("queued", e.getAtMs())))
                .put("deadline_at", e.getDeadlineAtMs() == null ? null : seconds(e.getDeadlineAtMs()))
                .put("timestamps", ts)
                .put("timestamps_ms", tsMs)
                .put("metadata", new JsonObject(new java.util.LinkedHashMap<>(e.getMetadata())))
                .put("webhook", e.getWebhookUrl())
                .put("pool", e.getPoolId())
                .put("chip", e.getChip());
        if (e.getCorrelationId() != null) {
            job.put("correlation_id", e.getCorrelationId());
        }
        if (status == JobStatus.SUCCEEDED) {
            JsonObject result = new JsonObject();
            String out = e.getOutput() == null ? "" : e.getOutput();
            if (out.length() <= inlineOutputLimit) {
                result.put("choices", new JsonArray().add(choice(e)));
            } else {
                result.put("output_url", "/v1/jobs/" + e.getJobId()).put("output_chars", out.length());
            }
            if (e.getUsage() != null) {
                result.put("usage", usage(e));
            }
            job.put("result", result);
        } else {
            job.put("result", null);
        }
        job.put("error", e.getError() == null ? null : new JsonObject()
                .put("type", e.getError().getType()).put("code", e.getError().getCode()).put("message", e.getError().getMessage()));
        return job;
    }

    /** A succeeded job as an OpenAI {@code chat.completion} object (the job id is its id). */
    public static JsonObject toChatCompletion(JobEvent e) {
        JsonObject c = new JsonObject()
                .put("id", e.getJobId())
                .put("object", "chat.completion")
                .put("created", e.getStateTimes().getOrDefault("queued", e.getAtMs()) / 1000)
                .put("model", e.getModel())
                .put("choices", new JsonArray().add(choice(e)));
        if (e.getUsage() != null) {
            c.put("usage", usage(e));
        }
        return c.put("system_fingerprint", e.getPoolId());
    }

    /** The one choice of a succeeded job: its text, or null content with the engine's tool calls; logprobs if any. */
    private static JsonObject choice(JobEvent e) {
        String out = e.getOutput() == null ? "" : e.getOutput();
        JsonObject message = new JsonObject().put("role", "assistant");
        if (e.getToolCallsJson() != null) {
            message.put("content", out.isEmpty() ? null : out).put("tool_calls", new JsonArray(e.getToolCallsJson()));
        } else {
            message.put("content", out);
        }
        return new JsonObject().put("index", 0).put("message", message)
                .put("logprobs", e.getLogprobsJson() == null ? null : new JsonObject(e.getLogprobsJson()))
                .put("finish_reason", e.getFinishReason());
    }

    static JsonObject usage(JobEvent e) {
        var u = e.getUsage();
        return new JsonObject()
                .put("prompt_tokens", u.getPromptTokens())
                .put("completion_tokens", u.getCompletionTokens())
                .put("total_tokens", u.getPromptTokens() + u.getCompletionTokens())
                .put("prompt_tokens_details", new JsonObject().put("cached_tokens", u.getCachedTokens()));
    }

    private static long seconds(long ms) {
        return Math.floorDiv(ms, 1000L);
    }
}
