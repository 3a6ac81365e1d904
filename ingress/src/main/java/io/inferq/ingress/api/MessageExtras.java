package io.inferq.ingress.api;

import io.inferq.job.request.ChatRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/** The request contract's {@code message_extras_json}: the tool-conversation parts of the messages. Stateless. */
final class MessageExtras {
    private MessageExtras() {
    }

    /** @return a JSON array with one entry per message (null or its tool parts), or null when no message has any */
    static String encode(List<ChatRequest.Message> messages) {
        JsonArray out = new JsonArray();
        boolean any = false;
        for (ChatRequest.Message m : messages) {
            if (m.toolCallsJson() == null && m.toolCallId() == null && m.name() == null) {
                out.addNull();
                continue;
            }
            any = true;
            JsonObject x = new JsonObject();
            if (m.toolCallsJson() != null) {
                x.put("tool_calls", new JsonArray(m.toolCallsJson()));
            }
            if (m.toolCallId() != null) {
                x.put("tool_call_id", m.toolCallId());
            }
            if (m.name() != null) {
                x.put("name", m.name());
            }
            out.add(x);
        }
        return any ? out.encode() : null;
    }
}
