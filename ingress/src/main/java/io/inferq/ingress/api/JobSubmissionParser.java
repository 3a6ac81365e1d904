package io.inferq.ingress.api;

import io.inferq.job.ChatRequestRules;
import io.inferq.job.JobLane;
import io.inferq.job.request.ChatRequest;
import io.inferq.job.request.RequestRejected;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Validates a {@code POST /v1/jobs} body (an OpenAI chat-completions request plus inferq's fields)
 * into a {@link JobSubmission} (a {@link ChatRequest} plus what only HTTP has), or names exactly what is wrong with the
 * {@link io.inferq.job.request.RequestError} every entry point reports (thrown as {@link RequestRejected}; the HTTP API
 * renders it with {@link ApiError#of}, a batch line as an entry of its error file).
 * Stateless and thread-safe; pure CPU work, safe on an event loop.
 */
public final class JobSubmissionParser {
    public static final int MAX_MESSAGES = ChatRequestRules.MAX_MESSAGES;
    public static final int MAX_METADATA_PAIRS = ChatRequestRules.MAX_METADATA_PAIRS;
    public static final int MAX_METADATA_KEY = ChatRequestRules.MAX_METADATA_KEY;
    public static final int MAX_METADATA_VALUE = ChatRequestRules.MAX_METADATA_VALUE;
    public static final Duration MAX_DEADLINE = ChatRequestRules.MAX_DEADLINE;
    static final Set<String> ROLES = ChatRequestRules.ROLES;
    static final Set<String> WEBHOOK_EVENTS = ChatRequestRules.WEBHOOK_EVENTS;

    private final Map<String, ServedModel> models;

    public JobSubmissionParser(List<ServedModel> served) {
        Map<String, ServedModel> m = new LinkedHashMap<>();
        served.forEach(s -> m.put(s.id(), s));
        this.models = Map.copyOf(m);
    }

    /**
     * @param body        the raw body
     * @param cancelAfter the {@code Cancel-After} header or null
     * @param nowMs       the current time
     * @throws RequestRejected naming exactly what is wrong (the first problem found)
     */
    public JobSubmission parse(String body, String cancelAfter, long nowMs) {
        return parse(StrictJson.read(body), cancelAfter, nowMs);
    }

    /**
     * Reads the body exactly ({@link StrictJson}: UTF-8 only, each key once, exact numbers) and validates it; the
     * request hash (idempotency) is of the body's canonical form, so whitespace and key order do not matter.
     *
     * @param body the raw body bytes
     * @throws RequestRejected naming exactly what is wrong (the first problem found)
     */
    public JobSubmission parse(byte[] body, String cancelAfter, long nowMs) {
        return parse(StrictJson.read(body), cancelAfter, nowMs);
    }

    private JobSubmission parse(StrictJson.Read read, String cancelAfter, long nowMs) {
        return parse(read.object(), cancelAfter, nowMs, read.canonical());
    }

    /**
     * As {@link #parse(String, String, long)}, for a body already decoded ({@code rawBody} is what the request hash covers).
     *
     * @throws RequestRejected naming exactly what is wrong (the first problem found)
     */
    public JobSubmission parse(JsonObject json, String cancelAfter, long nowMs, String rawBody) {
        return validate(json, cancelAfter, nowMs, rawBody);
    }

    /** Checks the body in the order every entry point reports problems; the first one found is thrown. */
    private JobSubmission validate(JsonObject json, String cancelAfter, long nowMs, String rawBody) {
        Object modelValue = json.getValue("model");
        String model = modelValue instanceof String m ? m : null;
        ServedModel served = ChatRequestRules.model(model, models);
        Object streamValue = json.getValue("stream");
        if (streamValue != null && !(streamValue instanceof Boolean)) {
            throw ChatRequestRules.invalid("invalid_type", "'stream' must be a boolean (true or false), was "
                    + ChatRequestRules.abbreviate(String.valueOf(streamValue)), "stream");
        }
        boolean stream = Boolean.TRUE.equals(streamValue);
        boolean includeUsage = false;
        Object streamOptions = json.getValue("stream_options");
        if (streamOptions != null) {
            if (!(streamOptions instanceof JsonObject so) || (so.getValue("include_usage") != null
                    && !(so.getValue("include_usage") instanceof Boolean))) {
                throw ChatRequestRules.invalid("invalid_stream_options", "'stream_options' must be an object such as "
                        + "{\"include_usage\": true}", "stream_options");
            }
            includeUsage = Boolean.TRUE.equals(so.getValue("include_usage"));
        }
        Object n = json.getValue("n");
        if (n != null && !(n instanceof Number num && ChatRequestRules.isWholeNumber(num) && ChatRequestRules.saturatedLong(num) == 1)) {
            throw ChatRequestRules.invalid("unsupported_parameter", "'n' must be 1 for queued jobs", "n");
        }
        Object msgs = json.getValue("messages");
        if (!(msgs instanceof JsonArray arr)) {
            throw ChatRequestRules.invalid("invalid_messages", "'messages' is required and must be an array of messages", "messages");
        }
        ChatRequestRules.messageCount(arr.size());
        List<ChatRequest.Message> messages = new ArrayList<>(arr.size());
        long chars = 0;
        for (int i = 0; i < arr.size(); i++) {
            String param = "messages[" + i + "]";
            if (!(arr.getValue(i) instanceof JsonObject m)) {
                throw ChatRequestRules.invalid("invalid_messages", param + " must be an object with 'role' and 'content'", param);
            }
            String r = ChatRequestRules.role(i, m.getValue("role"));
            OpenAiBodyFields.checkMessage(m, r, param);
            Object toolCalls = m.getValue("tool_calls");
            String content = toolCalls != null && m.getValue("content") == null ? "" : content(m.getValue("content"));
            if (content == null && hasImagePart(m.getValue("content"))) {
                throw ChatRequestRules.invalid("unsupported_content", param + ".content has an image part; no pool "
                        + "serving " + model + " takes images: send text parts only", param + ".content");
            }
            if (content == null) {
                throw ChatRequestRules.invalid("invalid_content", param + ".content must be a string or an array of text parts",
                        param + ".content");
            }
            chars += content.length();
            messages.add(new ChatRequest.Message(r, content, toolCalls == null ? null : ((JsonArray) toolCalls).encode(),
                    (String) m.getValue("tool_call_id"), (String) m.getValue("name")));
        }
        int promptTokens = ChatRequestRules.estimatePromptTokens(chars, messages.size());

        Object mt = json.getValue("max_tokens", json.getValue("max_completion_tokens"));
        Long requested = null;
        String shown = null;
        if (mt != null) {
            if (!(mt instanceof Number num) || !ChatRequestRules.isWholeNumber(num)) {
                throw ChatRequestRules.invalid("invalid_max_tokens", "'max_tokens' must be an integer", "max_tokens");
            }
            requested = ChatRequestRules.saturatedLong(num); // exact, or saturated: never wrapped into range
            shown = ChatRequestRules.exactText(num);
        }
        int maxTokens = ChatRequestRules.maxTokens(requested, shown, served);
        if (promptTokens > served.maxPromptTokens()) {
            throw ChatRequestRules.invalid("prompt_too_long", "the prompt (about " + promptTokens + " tokens) is longer "
                    + "than any pool serving " + model + " can take (at most " + served.maxPromptTokens()
                    + " prompt tokens: the largest max-batch-tokens among its pools)", "messages");
        }
        ChatRequestRules.context(promptTokens, maxTokens, served);
        Object t = json.getValue("temperature");
        Double temperature = null;
        if (t != null) {
            if (!(t instanceof Number num)) {
                throw ChatRequestRules.invalid("invalid_temperature", "'temperature' must be a number between 0 and 2", "temperature");
            }
            temperature = num.doubleValue();
            ChatRequestRules.temperature(temperature);
        }
        JobLane lane = JobLane.INTERACTIVE;
        Object pr = json.getValue("priority");
        if (pr != null) {
            if ("interactive".equals(pr)) {
                lane = JobLane.INTERACTIVE;
            } else if ("batch".equals(pr)) {
                lane = JobLane.BATCH;
            } else {
                throw ChatRequestRules.invalid("invalid_priority", "'priority' must be 'interactive' or 'batch'", "priority");
            }
        }
        String webhook = null;
        Object wh = json.getValue("webhook");
        if (wh != null) {
            if (!(wh instanceof String w)) {
                throw ChatRequestRules.invalid("invalid_webhook", "'webhook' must be an http or https URL", "webhook");
            }
            ChatRequestRules.webhook(w);
            webhook = w;
        }
        Set<String> events = new LinkedHashSet<>();
        Object filter = json.getValue("webhook_events_filter");
        if (filter != null) {
            if (!(filter instanceof JsonArray fa)) {
                throw ChatRequestRules.invalid("invalid_webhook_events_filter",
                        "'webhook_events_filter' must be an array of 'queued', 'running', 'completed'", "webhook_events_filter");
            }
            for (Object ev : fa) {
                events.add(ChatRequestRules.webhookEvent(ev));
            }
        }
        events.add("completed");
        Map<String, String> metadata = new LinkedHashMap<>();
        Object md = json.getValue("metadata");
        if (md != null) {
            if (!(md instanceof JsonObject mo)) {
                throw ChatRequestRules.invalid("invalid_metadata", "'metadata' must be an object of string values", "metadata");
            }
            ChatRequestRules.metadataSize(mo.size());
            for (String k : mo.fieldNames()) {
                metadata.put(k, ChatRequestRules.metadataPair(k, mo.getValue(k)));
            }
        }
        Long deadline = null;
        Object dl = json.getValue("deadline");
        if (dl != null && cancelAfter != null) {
            throw ChatRequestRules.invalid("invalid_deadline", "give either the Cancel-After header or 'deadline', not both", "deadline");
        }
        if (dl != null) {
            Long at = ChatRequestRules.parseDeadline(dl);
            if (at == null) {
                throw ChatRequestRules.invalid("invalid_deadline", "'deadline' must be an RFC 3339 timestamp or epoch seconds",
                        "deadline");
            }
            deadline = at;
        } else if (cancelAfter != null) {
            Long d = ChatRequestRules.parseDuration(cancelAfter.trim());
            if (d == null || d <= 0) {
                throw ChatRequestRules.invalid("invalid_deadline", "the Cancel-After header must be a positive duration such as "
                        + "'90s', '5m', '2h' or 'PT30S', was '" + ChatRequestRules.abbreviate(cancelAfter) + "'", "Cancel-After");
            }
            deadline = nowMs + d;
        }
        ChatRequestRules.deadline(deadline, nowMs, "the deadline is in the past");
        String optionsJson = OpenAiBodyFields.options(json, served);
        return new JobSubmission(new ChatRequest(model, messages, maxTokens, promptTokens, temperature, lane, webhook, events,
                metadata, deadline, optionsJson), sha256(rawBody), stream, includeUsage);
    }

    private static boolean hasImagePart(Object c) {
        return c instanceof JsonArray parts && parts.stream().anyMatch(p -> p instanceof JsonObject po
                && ("image_url".equals(po.getValue("type")) || "input_image".equals(po.getValue("type"))));
    }

    private static String content(Object c) {
        if (c instanceof String s) {
            return s;
        }
        if (c instanceof JsonArray parts) {
            StringBuilder sb = new StringBuilder();
            for (Object p : parts) {
                if (!(p instanceof JsonObject po) || !"text".equals(po.getValue("type")) || !(po.getValue("text") instanceof String text)) {
                    return null;
                }
                sb.append(text);
            }
            return sb.toString();
        }
        return null;
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
