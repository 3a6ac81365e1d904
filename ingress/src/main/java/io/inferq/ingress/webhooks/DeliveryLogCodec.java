package io.inferq.ingress.webhooks;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * JSON for the records of the delivery topic and the dead-letter topic (Jackson tree model, snake_case).
 * JSON rather than Avro: these records are internal to ingress, read by people debugging a DLQ, and the
 * reader ignores unknown fields so the schema can grow.
 *
 * <pre>{@code
 * key msg_...: {"kind":"delivery","schema":1,"id","version","state","tenant","job_id","event_type","url",
 *               "payload","created_at_ms","attempts","next_attempt_at_ms","last_error","last_status","updated_at_ms"}
 * key ep_...:  {"kind":"endpoint","schema":1,"tenant","url","disabled_at_ms","reason"}   (tombstone = enabled)
 * DLQ value:   {"kind":"dead_letter","schema":1,"reason","dead_lettered_at_ms","delivery":{...as above}}
 * }</pre>
 * Thread-safe.
 */
final class DeliveryLogCodec {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private DeliveryLogCodec() {
    }

    /** A disabled endpoint (after {@code 410 Gone}). */
    record DisabledEndpoint(String tenant, String url, long disabledAtMs, String reason) {
        String key() {
            return endpointKey(tenant, url);
        }
    }

    static String endpointKey(String tenant, String url) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((tenant + "\n" + url).getBytes(StandardCharsets.UTF_8));
            return "ep_" + HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] encode(Delivery d) {
        return bytes(node(d));
    }

    static byte[] encode(DisabledEndpoint e) {
        ObjectNode n = MAPPER.createObjectNode().put("kind", "endpoint").put("schema", 1).put("tenant", e.tenant())
                .put("url", e.url()).put("disabled_at_ms", e.disabledAtMs()).put("reason", e.reason());
        return bytes(n);
    }

    static byte[] encodeDeadLetter(Delivery d, long atMs) {
        ObjectNode n = MAPPER.createObjectNode().put("kind", "dead_letter").put("schema", 1)
                .put("reason", d.lastError()).put("dead_lettered_at_ms", atMs);
        n.set("delivery", node(d));
        return bytes(n);
    }

    /** @return a {@link Delivery} or a {@link DisabledEndpoint} */
    static Object decode(byte[] value) {
        JsonNode n;
        try {
            n = MAPPER.readTree(value);
        } catch (IOException e) {
            throw new IllegalArgumentException("not JSON: " + e.getMessage(), e);
        }
        String kind = n.path("kind").asText("");
        return switch (kind) {
            case "delivery" -> delivery(n);
            case "endpoint" -> new DisabledEndpoint(n.path("tenant").asText(), n.path("url").asText(),
                    n.path("disabled_at_ms").asLong(), n.path("reason").asText(null));
            case "dead_letter" -> delivery(n.path("delivery"));
            default -> throw new IllegalArgumentException("unknown record kind '" + kind + "'");
        };
    }

    private static Delivery delivery(JsonNode n) {
        return new Delivery(req(n, "id"), n.path("version").asLong(), Delivery.State.valueOf(req(n, "state")),
                req(n, "tenant"), req(n, "job_id"), req(n, "event_type"), req(n, "url"), text(n, "payload"),
                n.path("created_at_ms").asLong(), n.path("attempts").asInt(), n.path("next_attempt_at_ms").asLong(),
                text(n, "last_error"), n.path("last_status").asInt(), n.path("updated_at_ms").asLong());
    }

    private static ObjectNode node(Delivery d) {
        return MAPPER.createObjectNode().put("kind", "delivery").put("schema", 1).put("id", d.id())
                .put("version", d.version()).put("state", d.state().name()).put("tenant", d.tenant())
                .put("job_id", d.jobId()).put("event_type", d.eventType()).put("url", d.url())
                .put("payload", d.payload()).put("created_at_ms", d.createdAtMs()).put("attempts", d.attempts())
                .put("next_attempt_at_ms", d.nextAttemptAtMs()).put("last_error", d.lastError())
                .put("last_status", d.lastStatus()).put("updated_at_ms", d.updatedAtMs());
    }

    private static String req(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException("missing field " + field);
        }
        return v.asText();
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static byte[] bytes(JsonNode n) {
        try {
            return MAPPER.writeValueAsBytes(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
