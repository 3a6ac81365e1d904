package io.inferq.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.serde.AvroSerde;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The result record of a terminal job, in the format its request asked for ({@code JobEvent.result_content_type}):
 * Avro single-object {@code JobResult} (the default), or JSON for {@value #JSON} — the fields of {@code JobResult.avsc}
 * under the same names, {@code status} in lower case, {@code tool_calls} and {@code logprobs} as JSON values. Every
 * result carries the header {@value #CONTENT_TYPE_HEADER} ({@value #AVRO} or {@value #JSON}) and, when the request had
 * one, {@value JobHeaders#CORRELATION_ID}. Stateless and thread-safe.
 */
public final class ResultRecords {
    public static final String CONTENT_TYPE_HEADER = JobHeaders.CONTENT_TYPE;
    public static final String JSON = "application/json";
    public static final String AVRO = "avro/binary";
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final AvroSerde<JobResult> AVRO_SERDE = new AvroSerde<>(JobResult.class);

    private ResultRecords() {
    }

    /** The result record of {@code terminal} for {@code topic}, keyed by job id, with its headers. */
    public static ProducerRecord<String, byte[]> record(String topic, JobEvent terminal) {
        JobResult result = JobSnapshots.result(terminal);
        boolean json = JSON.equals(terminal.getResultContentType());
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, terminal.getJobId(), json ? json(result) : AVRO_SERDE.encode(result));
        r.headers().add(CONTENT_TYPE_HEADER, (json ? JSON : AVRO).getBytes(StandardCharsets.UTF_8));
        if (terminal.getCorrelationId() != null) {
            r.headers().add(JobHeaders.CORRELATION_ID, terminal.getCorrelationId().getBytes(StandardCharsets.UTF_8));
        }
        return r;
    }

    /** A result as JSON. */
    public static byte[] json(JobResult r) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("job_id", r.getJobId()).put("tenant", r.getTenant()).put("model", r.getModel())
                .put("status", JobStatus.fromWire(r.getStatus()).apiName()).put("output", r.getOutput())
                .put("finish_reason", r.getFinishReason());
        if (r.getUsage() != null) {
            o.putObject("usage").put("prompt_tokens", r.getUsage().getPromptTokens())
                    .put("completion_tokens", r.getUsage().getCompletionTokens())
                    .put("cached_tokens", r.getUsage().getCachedTokens());
        } else {
            o.putNull("usage");
        }
        if (r.getError() != null) {
            o.putObject("error").put("type", r.getError().getType()).put("code", r.getError().getCode())
                    .put("message", r.getError().getMessage());
        } else {
            o.putNull("error");
        }
        o.put("correlation_id", r.getCorrelationId()).put("pool_id", r.getPoolId()).put("chip", r.getChip())
                .put("submitted_at_ms", r.getSubmittedAtMs()).put("started_at_ms", r.getStartedAtMs())
                .put("first_token_at_ms", r.getFirstTokenAtMs()).put("finished_at_ms", r.getFinishedAtMs());
        try {
            o.set("tool_calls", r.getToolCallsJson() == null ? null : MAPPER.readTree(r.getToolCallsJson()));
            o.set("logprobs", r.getLogprobsJson() == null ? null : MAPPER.readTree(r.getLogprobsJson()));
            return MAPPER.writeValueAsBytes(o);
        } catch (IOException e) {
            throw new UncheckedIOException("bug: a result's JSON fields are not JSON", e);
        }
    }

    /**
     * Reads a result as inferq writes it, in either format: JSON (what {@link #json} writes; the value starts with
     * {@code '{'}) or single-object Avro (starts with {@code 0xC3 0x01}). For Java consumers of result topics that
     * receive both (JSON producers get JSON results unless they ask otherwise).
     *
     * @throws RuntimeException if the value is neither (an {@link IllegalArgumentException} or Avro's decode error)
     */
    public static JobResult decode(byte[] value) {
        if (value != null && value.length > 0 && value[0] == '{') {
            return fromJson(value);
        }
        return AVRO_SERDE.decode(value);
    }

    /** The inverse of {@link #json}. @throws IllegalArgumentException if the value is not such a result */
    public static JobResult fromJson(byte[] value) {
        try {
            com.fasterxml.jackson.databind.JsonNode o = MAPPER.readTree(value);
            JobResult.Builder b = JobResult.newBuilder().setJobId(o.path("job_id").asText()).setTenant(o.path("tenant").asText())
                    .setModel(o.path("model").asText()).setStatus(JobStatus.fromApiName(o.path("status").asText()).toWire())
                    .setOutput(text(o, "output")).setFinishReason(text(o, "finish_reason"))
                    .setCorrelationId(text(o, "correlation_id")).setPoolId(text(o, "pool_id")).setChip(text(o, "chip"))
                    .setSubmittedAtMs(o.path("submitted_at_ms").asLong()).setFinishedAtMs(o.path("finished_at_ms").asLong())
                    .setStartedAtMs(o.path("started_at_ms").isNumber() ? o.path("started_at_ms").asLong() : null)
                    .setFirstTokenAtMs(o.path("first_token_at_ms").isNumber() ? o.path("first_token_at_ms").asLong() : null)
                    .setToolCallsJson(o.path("tool_calls").isMissingNode() || o.path("tool_calls").isNull() ? null
                            : o.get("tool_calls").toString())
                    .setLogprobsJson(o.path("logprobs").isMissingNode() || o.path("logprobs").isNull() ? null
                            : o.get("logprobs").toString());
            com.fasterxml.jackson.databind.JsonNode u = o.path("usage");
            if (u.isObject()) {
                b.setUsage(io.inferq.broker.avro.Usage.newBuilder().setPromptTokens(u.path("prompt_tokens").asInt())
                        .setCompletionTokens(u.path("completion_tokens").asInt()).setCachedTokens(u.path("cached_tokens").asInt())
                        .build());
            }
            com.fasterxml.jackson.databind.JsonNode e = o.path("error");
            if (e.isObject()) {
                b.setError(io.inferq.broker.avro.JobError.newBuilder().setType(e.path("type").asText())
                        .setCode(e.path("code").asText()).setMessage(e.path("message").asText()).build());
            }
            return b.build();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not an inferq result in JSON: " + e.getMessage(), e);
        }
    }

    private static String text(com.fasterxml.jackson.databind.JsonNode o, String field) {
        com.fasterxml.jackson.databind.JsonNode n = o.get(field);
        return n == null || n.isNull() ? null : n.asText();
    }
}
