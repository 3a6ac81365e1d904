package io.inferq.workers.backend;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.ConnectException;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.concurrent.TimeoutException;

/**
 * The OpenAI chat-completions wire format: the request body for a sequence, and the mapping of an
 * engine's answer (or failure to answer) to a {@link SequenceOutcome}. Pure functions.
 */
final class ChatCompletionExchange {
    /** Back-off when a 429/503 carries no usable {@code Retry-After}. */
    static final long DEFAULT_RETRY_AFTER_MS = 1000;

    private ChatCompletionExchange() {
    }

    /**
     * The request body of one sequence; {@code priority} (vLLM's field, smaller runs first) is sent when not null, and
     * then replaces a {@code priority} the client's options might carry.
     */
    static JsonObject requestBody(SequenceWork sequence, String engineModel, Integer priority) {
        JsonArray messages = new JsonArray();
        for (SequenceWork.Message m : sequence.messages()) {
            JsonObject message = new JsonObject().put("role", m.role());
            if (m.toolCallsJson() != null) {
                message.put("content", m.content().isEmpty() ? null : m.content())
                        .put("tool_calls", new JsonArray(m.toolCallsJson()));
            } else {
                message.put("content", m.content());
            }
            if (m.toolCallId() != null) {
                message.put("tool_call_id", m.toolCallId());
            }
            if (m.name() != null) {
                message.put("name", m.name());
            }
            messages.add(message);
        }
        JsonObject body = new JsonObject()
                .put("model", engineModel)
                .put("messages", messages)
                .put("max_tokens", sequence.maxTokens())
                .put("stream", false);
        if (sequence.optionsJson() != null) {
            // the client's further parameters, as it sent them (validated at intake); never the ones set above
            new JsonObject(sequence.optionsJson()).forEach(e -> body.getMap().putIfAbsent(e.getKey(), e.getValue()));
        }
        if (sequence.temperature() != null) {
            body.put("temperature", sequence.temperature());
        }
        if (priority != null) {
            body.put("priority", priority);
        }
        return body;
    }

    /**
     * @param retryAfter the {@code Retry-After} header or null
     * @param nowMs      wall-clock time the response arrived, stamped as first-token and finish time (a
     *                   non-streaming call cannot observe the first token)
     */
    static SequenceOutcome fromResponse(SequenceWork sequence, String url, int status, String retryAfter,
            String body, long nowMs) {
        if (status == 200) {
            return completed(sequence, url, body, nowMs);
        }
        String engineMessage = errorMessage(body);
        String message = "HTTP " + status + " from " + url + (engineMessage.isEmpty() ? "" : ": " + engineMessage);
        if (status == 429 || status == 503) {
            return new SequenceOutcome.Failed(sequence.jobId(), new InferenceError.BackPressure("engine_overloaded",
                    message, retryAfterMs(retryAfter, nowMs)));
        }
        if (status >= 500 || status == 408) {
            return new SequenceOutcome.Failed(sequence.jobId(), new InferenceError.Transient("engine_error", message));
        }
        if (status >= 400) {
            JsonObject error = errorObject(body);
            String type = error == null ? null : stringOrNull(error.getValue("type"));
            String code = error == null ? null : stringOrNull(error.getValue("code"));
            return new SequenceOutcome.Failed(sequence.jobId(), new InferenceError.Fatal(
                    type == null || type.isBlank() ? "invalid_request_error" : type,
                    code == null || code.isBlank() ? "http_" + status : code,
                    engineMessage.isEmpty() ? message : engineMessage));
        }
        return new SequenceOutcome.Failed(sequence.jobId(), new InferenceError.Transient("unexpected_status",
                message));
    }

    /** Maps a failure to get any response at all: every such failure is transient. */
    static InferenceError fromFailure(Throwable failure, String url) {
        if (failure instanceof TimeoutException) {
            return new InferenceError.Transient("engine_timeout", "no answer from " + url + " in time: "
                    + failure.getMessage());
        }
        String code = failure instanceof ConnectException ? "engine_unreachable" : "engine_connection_error";
        return new InferenceError.Transient(code, failure.getClass().getSimpleName() + " calling " + url + ": "
                + failure.getMessage());
    }

    /** Retry-After as delay-seconds or an HTTP-date; {@link #DEFAULT_RETRY_AFTER_MS} when absent or unreadable. */
    static long retryAfterMs(String header, long nowMs) {
        if (header == null || header.isBlank()) {
            return DEFAULT_RETRY_AFTER_MS;
        }
        String value = header.trim();
        try {
            return Math.max(0, Math.multiplyExact(Long.parseLong(value), 1000L));
        } catch (NumberFormatException | ArithmeticException notSeconds) {
            try {
                long at = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
                return Math.max(0, at - nowMs);
            } catch (DateTimeParseException notDate) {
                return DEFAULT_RETRY_AFTER_MS;
            }
        }
    }

    private static SequenceOutcome completed(SequenceWork sequence, String url, String body, long nowMs) {
        try {
            JsonObject json = new JsonObject(body);
            JsonObject choice = json.getJsonArray("choices").getJsonObject(0);
            JsonObject message = choice.getJsonObject("message");
            String text = message.getString("content", "");
            String finishReason = choice.getString("finish_reason", "stop");
            JsonArray toolCalls = message.getJsonArray("tool_calls");
            JsonObject logprobs = choice.getJsonObject("logprobs");
            JsonObject usage = json.getJsonObject("usage", new JsonObject());
            int promptTokens = usage.getInteger("prompt_tokens", sequence.promptTokens());
            int completionTokens = usage.getInteger("completion_tokens", 0);
            JsonObject details = usage.getJsonObject("prompt_tokens_details");
            int cached = details == null ? 0 : details.getInteger("cached_tokens", 0);
            return new SequenceOutcome.Completed(sequence.jobId(), text == null ? "" : text,
                    finishReason == null ? "stop" : finishReason, promptTokens, completionTokens, cached,
                    SequenceOutcome.Completed.UNKNOWN_FIRST_TOKEN, nowMs,
                    toolCalls == null || toolCalls.isEmpty() ? null : toolCalls.encode(),
                    logprobs == null ? null : logprobs.encode());
        } catch (DecodeException | ClassCastException | NullPointerException | IndexOutOfBoundsException e) {
            return new SequenceOutcome.Failed(sequence.jobId(), new InferenceError.Transient("invalid_engine_response",
                    "unreadable chat completion from " + url + ": " + e));
        }
    }

    /** OpenAI shape {@code {"error": {...}}}; vLLM's older shape is the error object at top level. */
    private static JsonObject errorObject(String body) {
        try {
            JsonObject json = new JsonObject(body);
            Object error = json.getValue("error");
            if (error instanceof JsonObject nested) {
                return nested;
            }
            return json.containsKey("message") ? json : null;
        } catch (DecodeException | ClassCastException e) {
            return null;
        }
    }

    private static String errorMessage(String body) {
        if (body == null || body.isBlank()) {
            return "";
        }
        JsonObject error = errorObject(body);
        if (error != null) {
            Object message = error.getValue("message");
            if (message != null) {
                return message.toString();
            }
            Object plain = error.getValue("error");
            if (plain instanceof String s) {
                return s;
            }
        }
        String trimmed = body.strip();
        return trimmed.length() > 500 ? trimmed.substring(0, 500) + "…" : trimmed;
    }

    private static String stringOrNull(Object value) {
        return value == null ? null : value.toString();
    }
}
