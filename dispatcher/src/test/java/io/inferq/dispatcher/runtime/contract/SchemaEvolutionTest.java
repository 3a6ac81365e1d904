package io.inferq.dispatcher.runtime.contract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

/**
 * The published {@code JobRequest.avsc} evolves backward- and forward-compatibly: a consumer on the
 * current schema reads records of the previous version, and a consumer still on the previous version
 * reads records of the current one. {@code JobRequest-v0.avsc} (test resource) is the earlier version.
 */
class SchemaEvolutionTest {
    private static final Schema OLD = parse("/contract/JobRequest-v0.avsc");
    private static final Schema CURRENT = JobRequest.getClassSchema();

    @Test
    void theSchemasAreMutuallyCompatible() {
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(CURRENT, OLD).getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(OLD, CURRENT).getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
    }

    @Test
    void aNewConsumerReadsARecordAnOldProducerWrote() throws IOException {
        byte[] old = oldRecord();
        AvroSerde<JobRequest> current = new AvroSerde<>(JobRequest.class, List.of(OLD));
        JobRequest read = current.decode(old);
        assertThat(read.getJobId()).isEqualTo("order-1");
        assertThat(read.getMessages()).containsExactly(new ChatMessage("user", "hello"));
        assertThat(read.getMaxTokens()).isEqualTo(12);
        // fields added after v0 take their defaults
        assertThat(read.getAttempt()).isZero();
        assertThat(read.getBatchId()).isNull();
        assertThat(read.getCustomId()).isNull();
    }

    @Test
    void theOldWriterSchemaMustBeKnownToTheReader() throws IOException {
        // single-object encoding names the writer schema by fingerprint only: a reader must have it registered
        assertThatThrownBy(() -> new AvroSerde<>(JobRequest.class).decode(oldRecord())).isInstanceOf(AvroSerde.AvroDecodeException.class);
    }

    @Test
    void anOldConsumerReadsARecordTheCurrentSchemaWrote() throws IOException {
        JobRequest now = JobRequest.newBuilder().setJobId("order-2").setTenant("acme").setModel("deepseek-r1")
                .setMessages(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hi"))).setMaxTokens(3)
                .setAttempt(2).setCustomId("line-9").setMetadata(Map.of("k", "v")).build();
        byte[] bytes = new AvroSerde<>(JobRequest.class).encode(now);
        BinaryMessageDecoder<GenericRecord> oldReader = new BinaryMessageDecoder<>(GenericData.get(), OLD);
        oldReader.addSchema(CURRENT); // the old consumer learns the new writer schema (from the published .avsc)
        GenericRecord read = oldReader.decode(bytes);
        assertThat(read.get("job_id").toString()).isEqualTo("order-2");
        assertThat(read.get("max_tokens")).isEqualTo(3);
        assertThat(((List<?>) read.get("messages"))).hasSize(2);
        assertThat(read.getSchema().getField("attempt")).isNull(); // unknown new fields are skipped
    }

    @Test
    void anOldProducersRecordPassesTheKafkaContract() throws IOException {
        KafkaRequestContract contract = new KafkaRequestContract(ContractRecords.MODELS, TenantCheck.of(Map.of()),
                io.inferq.broker.origin.TrustedOrigin.forTenants(Map.of()), ReplyTopicCheck.ANY, List.of(OLD), ContractRecords.CLOCK);
        var r = contract.apply(ContractRecords.record("inferq.requests", 3, oldRecord()));
        assertThat(r.errorMessage()).isNull();
        assertThat(r.request().getJobId()).isEqualTo(KafkaRequestContract.scopedJobId("default", "order-1"));
        assertThat(r.request().getSource()).isEqualTo("kafka");
    }

    private static byte[] oldRecord() throws IOException {
        Schema msg = OLD.getField("messages").schema().getElementType();
        GenericRecord m = new GenericData.Record(msg);
        m.put("role", "user");
        m.put("content", "hello");
        GenericRecord r = new GenericData.Record(OLD);
        r.put("job_id", "order-1");
        r.put("tenant", "");
        r.put("model", "deepseek-v2-lite");
        r.put("messages", List.of(m));
        r.put("max_tokens", 12);
        r.put("lane", new GenericData.EnumSymbol(OLD.getField("lane").schema(), "INTERACTIVE"));
        r.put("prompt_tokens", 0);
        r.put("submitted_at_ms", 0L);
        r.put("metadata", Map.of());
        r.put("webhook_events", List.of());
        r.put("source", "kafka");
        ByteBuffer buf = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), OLD).encode(r);
        byte[] out = new byte[buf.remaining()];
        buf.get(out);
        return out;
    }

    private static Schema parse(String resource) {
        try (InputStream in = SchemaEvolutionTest.class.getResourceAsStream(resource)) {
            return new Schema.Parser().parse(in);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
