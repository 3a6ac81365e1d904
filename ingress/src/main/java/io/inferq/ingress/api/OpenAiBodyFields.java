package io.inferq.ingress.api;

import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Set;

/**
 * The OpenAI chat-completions fields inferq does not act on itself but carries to the engine: checks their JSON types,
 * refuses those the pools serving the model cannot honour, and returns them as one JSON object (the request contract's
 * {@code options_json}). Also reads the tool-conversation parts of a message. Stateless; pure CPU work.
 */
final class OpenAiBodyFields {
    /** Passed through to OpenAI-compatible engines as sent. */
    public static final List<String> PASS_THROUGH = List.of("tools", "tool_choice", "response_format", "stop", "seed",
            "top_p", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "user", "parallel_tool_calls",
            "reasoning_effort");
    /** What the simulated backend honours ({@code max_completion_tokens} is {@code max_tokens}). */
    public static final Set<String> SIMULATED_HONOURS = Set.of("stop", "seed");

    private OpenAiBodyFields() {
    }

    /**
     * @param served the model the request names
     * @return the pass-through parameters as a JSON object, or null when the request has none of them
     * @throws RequestRejected when one is malformed or not honoured by the pools serving the model
     */
    public static String options(JsonObject body, ServedModel served) {
        JsonObject out = new JsonObject();
        for (String field : PASS_THROUGH) {
            Object v = body.getValue(field);
            if (v == null) {
                continue;
            }
            String problem = typeProblem(field, v);
            if (problem != null) {
                throw RequestError.invalid("invalid_" + field, "'" + field + "' " + problem, field).rejected();
            }
            if (!SIMULATED_HONOURS.contains(field) && simulatedOnly(served)) {
                throw RequestError.invalid("unsupported_parameter", "'" + field + "' is not supported by the "
                        + "pools serving " + served.id() + " (simulated backends honour only stop, seed and "
                        + "max_completion_tokens; an openai-http pool passes every parameter to its engine)", field).rejected();
            }
            out.put(field, v);
        }
        return out.isEmpty() ? null : out.encode();
    }

    /** @return whether every pool serving the model is simulated (so only {@link #SIMULATED_HONOURS} can be honoured) */
    static boolean simulatedOnly(ServedModel served) {
        return !served.pools().isEmpty() && served.pools().stream().allMatch(p -> p.endsWith(", simulated)"));
    }

    private static String typeProblem(String field, Object v) {
        switch (field) {
            case "tools":
                if (!(v instanceof JsonArray a) || a.stream().anyMatch(t -> !(t instanceof JsonObject o)
                        || !(o.getValue("type") instanceof String))) {
                    return "must be an array of tool objects, each with a 'type'";
                }
                return null;
            case "tool_choice":
                return v instanceof String || v instanceof JsonObject ? null : "must be a string or an object";
            case "response_format":
                return v instanceof JsonObject o && o.getValue("type") instanceof String ? null
                        : "must be an object with a 'type'";
            case "stop":
                if (v instanceof String) {
                    return null;
                }
                return v instanceof JsonArray a && a.size() <= 4 && a.stream().allMatch(s -> s instanceof String) ? null
                        : "must be a string or an array of at most 4 strings";
            case "seed":
                return integral(v) ? null : "must be an integer";
            case "top_p":
                return v instanceof Number n && n.doubleValue() >= 0 && n.doubleValue() <= 1 ? null
                        : "must be a number between 0 and 1";
            case "frequency_penalty":
            case "presence_penalty":
                return v instanceof Number n && n.doubleValue() >= -2 && n.doubleValue() <= 2 ? null
                        : "must be a number between -2 and 2";
            case "logprobs":
            case "parallel_tool_calls":
                return v instanceof Boolean ? null : "must be true or false";
            case "top_logprobs":
                return integral(v) && ((Number) v).longValue() >= 0 && ((Number) v).longValue() <= 20 ? null
                        : "must be an integer between 0 and 20";
            case "user":
            case "reasoning_effort":
                return v instanceof String ? null : "must be a string";
            default:
                return null;
        }
    }

    private static boolean integral(Object v) {
        return v instanceof Number n && n.doubleValue() == Math.floor(n.doubleValue()) && !Double.isInfinite(n.doubleValue());
    }

    /**
     * The tool-conversation parts of message {@code m}: an assistant's {@code tool_calls} (then {@code content} may be
     * null), a tool message's {@code tool_call_id}, a {@code name}.
     *
     * @throws RequestRejected when they are not well-formed
     */
    static void checkMessage(JsonObject m, String role, String param) {
        Object calls = m.getValue("tool_calls");
        if (calls != null && (!"assistant".equals(role) || !(calls instanceof JsonArray a) || a.isEmpty()
                || a.stream().anyMatch(c -> !(c instanceof JsonObject o) || !(o.getValue("id") instanceof String)))) {
            throw RequestError.invalid("invalid_tool_calls", param + ".tool_calls is allowed on assistant messages only and "
                    + "must be a non-empty array of calls, each with an 'id'", param + ".tool_calls").rejected();
        }
        Object callId = m.getValue("tool_call_id");
        if ("tool".equals(role) && !(callId instanceof String)) {
            throw RequestError.invalid("invalid_tool_call_id", param + " is a tool message: 'tool_call_id' must name the call "
                    + "it answers", param + ".tool_call_id").rejected();
        }
        Object name = m.getValue("name");
        if (name != null && !(name instanceof String)) {
            throw RequestError.invalid("invalid_messages", param + ".name must be a string", param + ".name").rejected();
        }
    }
}
