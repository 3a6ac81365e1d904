package io.inferq.examples.tickets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.serde.AvroSerde;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.ContextualFixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

/**
 * Classifies support tickets with an LLM through inferq's Kafka contract, and joins the answers back.
 *
 * <pre>
 * support.tickets ──┬─ selectKey(ticket id) ─> KTable tickets-by-id ────────────────┐
 *  (JSON ticket)    └─ chat-completions JSON ─> inferq.requests                       │ join on ticket id
 *                          headers: content-type, inferq-correlation-id = ticket id,  │
 *                          inferq-reply-topic, inferq-tenant / inferq-api-key         │
 * reply topic ─ JobResult (Avro) ─> classification keyed by correlation id ───────────┴─> support.tickets.enriched
 * </pre>
 *
 * A ticket is {@code {"id": "T-1", "subject": "...", "body": "...", ...}}; the enriched ticket is the
 * same object plus {@code "classification": {"category", "status", "job_id", "model", "raw"}}.
 */
public final class TicketClassifierTopology {
    static final List<String> CATEGORIES = List.of("billing", "technical", "account", "shipping", "other");
    private static final ObjectMapper JSON = new ObjectMapper();

    private TicketClassifierTopology() {
    }

    /**
     * @param tickets  input topic of JSON tickets
     * @param requests inferq's request topic ({@code inferq.requests})
     * @param replies  the reply topic inferq answers on (results are keyed by job id)
     * @param enriched output topic of classified tickets, keyed by ticket id
     * @param model    the model to ask ({@code deepseek-v2-lite})
     * @param tenant   tenant and API key headers, or null in inferq's open mode
     */
    public record Settings(String tickets, String requests, String replies, String enriched, String model, String tenant, String apiKey) {
        public Settings {
            Objects.requireNonNull(tickets, "tickets topic");
            Objects.requireNonNull(requests, "requests topic");
            Objects.requireNonNull(replies, "reply topic");
            Objects.requireNonNull(enriched, "enriched topic");
            Objects.requireNonNull(model, "model");
        }

        public static Settings defaults() {
            return new Settings("support.tickets", "inferq.requests", "support.tickets.inferq-replies", "support.tickets.enriched",
                    "deepseek-v2-lite", null, null);
        }
    }

    public static Topology build(Settings s) {
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> tickets = b.stream(s.tickets(), Consumed.with(Serdes.String(), Serdes.String()))
                .filter((k, v) -> ticketId(v) != null);

        KTable<String, String> byId = tickets.selectKey((k, v) -> ticketId(v))
                .toTable(Materialized.<String, String, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as(
                        "tickets-by-id").withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));

        tickets.selectKey((k, v) -> ticketId(v))
                .processValues(() -> new ClassificationRequest(s))
                .to(s.requests(), Produced.with(Serdes.String(), Serdes.ByteArray()));

        b.stream(s.replies(), Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .processValues(ClassificationResult::new)
                .filter((jobId, classification) -> classification != null)
                .selectKey((jobId, classification) -> readTree(classification).path("ticket_id").asText())
                .join(byId, TicketClassifierTopology::enrich, Joined.with(Serdes.String(), Serdes.String(), Serdes.String()))
                .to(s.enriched(), Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    /** The ticket plus its classification (the classification's {@code ticket_id} is dropped: it is the key). */
    static String enrich(String classification, String ticket) {
        ObjectNode t = (ObjectNode) readTree(ticket);
        ObjectNode c = (ObjectNode) readTree(classification);
        c.remove("ticket_id");
        t.set("classification", c);
        return t.toString();
    }

    /** The first category the answer names, {@code other} if none. */
    static String category(String output) {
        if (output == null) {
            return "other";
        }
        String lower = output.toLowerCase(Locale.ROOT);
        int best = Integer.MAX_VALUE;
        String found = "other";
        for (String c : CATEGORIES) {
            int at = lower.indexOf(c);
            if (at >= 0 && at < best) {
                best = at;
                found = c;
            }
        }
        return found;
    }

    static String ticketId(String ticket) {
        try {
            JsonNode id = JSON.readTree(ticket).get("id");
            return id == null || id.isNull() || id.asText().isBlank() ? null : id.asText();
        } catch (IOException | RuntimeException e) {
            return null; // not a ticket: skipped
        }
    }

    private static JsonNode readTree(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Ticket → an OpenAI chat-completions JSON body with inferq's headers. */
    static final class ClassificationRequest extends ContextualFixedKeyProcessor<String, String, byte[]> {
        private final Settings s;

        ClassificationRequest(Settings s) {
            this.s = s;
        }

        @Override
        public void process(FixedKeyRecord<String, String> ticket) {
            JsonNode t = readTree(ticket.value());
            ObjectNode body = JSON.createObjectNode().put("model", s.model()).put("max_tokens", 8).put("temperature", 0.0);
            body.putArray("messages")
                    .add(JSON.createObjectNode().put("role", "system").put("content", "Classify the support ticket into exactly one of: "
                            + String.join(", ", CATEGORIES) + ". Answer with that single word."))
                    .add(JSON.createObjectNode().put("role", "user").put("content",
                            "Subject: " + t.path("subject").asText("") + "\n\n" + t.path("body").asText("")));
            body.putObject("metadata").put("ticket_id", ticket.key());
            RecordHeaders h = new RecordHeaders();
            h.add("content-type", "application/json".getBytes(StandardCharsets.UTF_8));
            h.add("inferq-correlation-id", ticket.key().getBytes(StandardCharsets.UTF_8));
            h.add("inferq-reply-topic", s.replies().getBytes(StandardCharsets.UTF_8));
            if (s.tenant() != null) {
                h.add("inferq-tenant", s.tenant().getBytes(StandardCharsets.UTF_8));
                h.add("inferq-api-key", s.apiKey().getBytes(StandardCharsets.UTF_8));
            }
            context().forward(ticket.withValue(body.toString().getBytes(StandardCharsets.UTF_8)).withHeaders(h));
        }
    }

    /** inferq's Avro {@code JobResult} (keyed by job id) → a classification JSON carrying the ticket id. */
    static final class ClassificationResult extends ContextualFixedKeyProcessor<String, byte[], String> {
        private final AvroSerde<JobResult> results = new AvroSerde<>(JobResult.class);

        @Override
        public void process(FixedKeyRecord<String, byte[]> reply) {
            Header cid = reply.headers().lastHeader("inferq-correlation-id");
            JobResult r;
            try {
                r = results.decode(reply.value());
            } catch (AvroSerde.AvroDecodeException e) {
                return; // not an inferq result: nothing to join
            }
            String ticketId = cid != null ? new String(cid.value(), StandardCharsets.UTF_8) : r.getCorrelationId();
            if (ticketId == null) {
                return;
            }
            String status = r.getStatus().name().toLowerCase(Locale.ROOT);
            ObjectNode c = JSON.createObjectNode().put("ticket_id", ticketId)
                    .put("category", "succeeded".equals(status) ? category(r.getOutput()) : "unclassified")
                    .put("status", status).put("job_id", r.getJobId()).put("model", r.getModel()).put("raw", r.getOutput());
            if (r.getError() != null) {
                c.put("error", r.getError().getMessage());
            }
            context().forward(reply.withValue(c.toString()).withHeaders(new RecordHeaders()));
        }
    }
}
