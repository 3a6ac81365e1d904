package io.inferq.dispatcher.runtime.contract;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import io.inferq.job.ChatRequestRules;
import io.inferq.job.JobLane;
import io.inferq.job.request.ChatRequest;
import io.inferq.job.request.RequestError;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads an OpenAI chat-completions JSON body (plus inferq's {@code priority}, {@code metadata},
 * {@code deadline}, {@code webhook}, {@code webhook_events_filter}) into a {@link ChatRequest}, checking the
 * HTTP API's rules in the HTTP API's order. Thread-safe (the mapper is only read).
 */
final class JsonChatRequest {
    // floats as BigDecimal: integers are judged on their exact value (ChatRequestRules.isWholeNumber)
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    private JsonChatRequest() {
    }

    static Read read(byte[] body, Map<String, ServedModelLimits> models) {
        JsonNode json;
        try {
            json = MAPPER.readTree(body);
        } catch (JacksonException e) {
            throw RequestError.undecodable("invalid_json", "the record value is not valid JSON: " + firstLine(e.getOriginalMessage())).rejected();
        } catch (java.io.IOException e) {
            throw RequestError.undecodable("invalid_json", "the record value is not readable JSON: " + e.getMessage()).rejected();
        }
        if (json == null || !json.isObject()) {
            throw RequestError.undecodable("invalid_json", "the record value must be a JSON object").rejected();
        }
        JsonNode modelNode = json.get("model");
        ServedModelLimits served = ChatRequestRules.model(modelNode != null && modelNode.isTextual() ? modelNode.asText() : null, models);
        if (json.path("stream").isBoolean() && json.path("stream").asBoolean()) {
            throw ChatRequestRules.invalid("unsupported_parameter", "'stream' is not supported for queued jobs", "stream");
        }
        JsonNode n = json.get("n");
        if (n != null && !n.isNull() && !(n.isNumber() && ChatRequestRules.isWholeNumber(n.numberValue())
                && ChatRequestRules.saturatedLong(n.numberValue()) == 1)) {
            throw ChatRequestRules.invalid("unsupported_parameter", "'n' must be 1 for queued jobs", "n");
        }
        JsonNode msgs = json.get("messages");
        if (msgs == null || !msgs.isArray()) {
            throw ChatRequestRules.invalid("invalid_messages", "'messages' is required and must be an array of messages", "messages");
        }
        ChatRequestRules.messageCount(msgs.size());
        List<ChatRequest.Message> messages = new ArrayList<>(msgs.size());
        com.fasterxml.jackson.databind.node.ArrayNode extras = MAPPER.createArrayNode();
        boolean anyExtras = false;
        long chars = 0;
        for (int i = 0; i < msgs.size(); i++) {
            JsonNode m = msgs.get(i);
            String param = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ChatRequestRules.invalid("invalid_messages", param + " must be an object with 'role' and 'content'", param);
            }
            JsonNode role = m.get("role");
            ChatRequestRules.role(i, role == null || role.isNull() ? null : role.isTextual() ? role.asText() : role.toString());
            JsonNode toolCalls = m.get("tool_calls");
            boolean toolCallMessage = toolCalls != null && toolCalls.isArray() && !toolCalls.isEmpty()
                    && "assistant".equals(role.asText());
            String content = toolCallMessage && (m.get("content") == null || m.get("content").isNull()) ? ""
                    : content(m.get("content"));
            if (content == null) {
                throw ChatRequestRules.invalid("invalid_content", param + ".content must be a string or an array of text parts", param + ".content");
            }
            chars += content.length();
            messages.add(new ChatRequest.Message(role.asText(), content));
            com.fasterxml.jackson.databind.node.ObjectNode x = MAPPER.createObjectNode();
            if (toolCallMessage) {
                x.set("tool_calls", toolCalls);
            }
            if (m.path("tool_call_id").isTextual()) {
                x.put("tool_call_id", m.get("tool_call_id").asText());
            }
            if (m.path("name").isTextual()) {
                x.put("name", m.get("name").asText());
            }
            extras.add(x.isEmpty() ? com.fasterxml.jackson.databind.node.NullNode.getInstance() : x);
            anyExtras |= !x.isEmpty();
        }
        int promptTokens = ChatRequestRules.estimatePromptTokens(chars, messages.size());
        JsonNode mt = json.has("max_tokens") && !json.get("max_tokens").isNull() ? json.get("max_tokens") : json.get("max_completion_tokens");
        Long requested = null;
        if (mt != null && !mt.isNull()) {
            if (!mt.isNumber() || !ChatRequestRules.isWholeNumber(mt.numberValue())) {
                throw ChatRequestRules.invalid("invalid_max_tokens", "'max_tokens' must be an integer", "max_tokens");
            }
            requested = ChatRequestRules.saturatedLong(mt.numberValue()); // exact, or saturated: never wrapped into range
        }
        int maxTokens = ChatRequestRules.maxTokens(requested, String.valueOf(requested), served);
        ChatRequestRules.context(promptTokens, maxTokens, served);
        JsonNode t = json.get("temperature");
        Double temperature = null;
        if (t != null && !t.isNull()) {
            if (!t.isNumber()) {
                throw ChatRequestRules.invalid("invalid_temperature", "'temperature' must be a number between 0 and 2", "temperature");
            }
            temperature = t.asDouble();
            ChatRequestRules.temperature(temperature);
        }
        JobLane lane = null;
        JsonNode pr = json.get("priority");
        if (pr != null && !pr.isNull()) {
            if ("interactive".equals(pr.asText(null)) && pr.isTextual()) {
                lane = JobLane.INTERACTIVE;
            } else if ("batch".equals(pr.asText(null)) && pr.isTextual()) {
                lane = JobLane.BATCH;
            } else {
                throw ChatRequestRules.invalid("invalid_priority", "'priority' must be 'interactive' or 'batch'", "priority");
            }
        }
        String webhook = null;
        JsonNode wh = json.get("webhook");
        if (wh != null && !wh.isNull()) {
            if (!wh.isTextual()) {
                throw ChatRequestRules.invalid("invalid_webhook", "'webhook' must be an http or https URL", "webhook");
            }
            webhook = wh.asText();
            ChatRequestRules.webhook(webhook);
        }
        Set<String> events = new LinkedHashSet<>();
        JsonNode filter = json.get("webhook_events_filter");
        if (filter != null && !filter.isNull()) {
            if (!filter.isArray()) {
                throw ChatRequestRules.invalid("invalid_webhook_events_filter",
                        "'webhook_events_filter' must be an array of 'queued', 'running', 'completed'", "webhook_events_filter");
            }
            for (JsonNode ev : filter) {
                ChatRequestRules.webhookEvent(ev.isTextual() ? ev.asText() : ev.toString());
                events.add(ev.asText());
            }
        }
        events.add("completed");
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode md = json.get("metadata");
        if (md != null && !md.isNull()) {
            if (!md.isObject()) {
                throw ChatRequestRules.invalid("invalid_metadata", "'metadata' must be an object of string values", "metadata");
            }
            ChatRequestRules.metadataSize(md.size());
            for (Map.Entry<String, JsonNode> e : md.properties()) {
                ChatRequestRules.metadataPair(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue());
                metadata.put(e.getKey(), e.getValue().asText());
            }
        }
        Long deadline = null;
        JsonNode dl = json.get("deadline");
        if (dl != null && !dl.isNull()) {
            Object v = dl.isNumber() ? (Object) dl.numberValue() : dl.isTextual() ? dl.asText() : null;
            deadline = ChatRequestRules.parseDeadline(v);
            if (deadline == null) {
                throw ChatRequestRules.invalid("invalid_deadline", "'deadline' must be an RFC 3339 timestamp or epoch seconds", "deadline");
            }
        }
        com.fasterxml.jackson.databind.node.ObjectNode options = MAPPER.createObjectNode();
        for (String field : PASS_THROUGH) {
            JsonNode v = json.get(field);
            if (v != null && !v.isNull()) {
                options.set(field, v);
            }
        }
        return new Read(new ChatRequest(served.id(), messages, maxTokens, promptTokens, temperature, lane, webhook, events, metadata,
                deadline, options.isEmpty() ? null : options.toString()), anyExtras ? extras.toString() : null);
    }

    private static String content(JsonNode c) {
        if (c == null) {
            return null;
        }
        if (c.getNodeType() == JsonNodeType.STRING) {
            return c.asText();
        }
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode p : c) {
                if (!p.isObject() || !"text".equals(p.path("type").asText(null)) || !p.path("text").isTextual()) {
                    return null;
                }
                sb.append(p.get("text").asText());
            }
            return sb.toString();
        }
        return null;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /**
     * A request body that passed every body rule; headers are applied afterwards.
     *
     * @param request           the chat request; its lane is null unless {@code priority} was given (then the topic's),
     *                          its deadline the body's {@code deadline} or null
     * @param messageExtrasJson the tool-conversation parts of the messages ({@code JobRequest.message_extras_json}), or null
     */
    record Read(ChatRequest request, String messageExtrasJson) {
    }

    /** OpenAI parameters carried to the engine as sent (JobRequest.options_json), as over HTTP. */
    static final List<String> PASS_THROUGH = List.of("tools", "tool_choice", "response_format", "stop", "seed", "top_p",
            "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "user", "parallel_tool_calls", "reasoning_effort");
}
