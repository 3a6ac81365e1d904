package io.inferq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.serde.PoolBatchSchemas;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.api.Test;

/** A worker of this version reads the batches a dispatcher of the earlier {@code PoolBatch} version wrote. */
class PoolBatchSchemasTest {

    @Test
    void theEarlierVersionAndTheCurrentOneAreMutuallyCompatible() {
        Schema current = PoolBatch.getClassSchema();
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(current, PoolBatchSchemas.V1).getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(PoolBatchSchemas.V1, current).getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
        assertThat(PoolBatchSchemas.V1.getField("instance")).isNull();
    }

    @Test
    void aBatchWrittenWithTheEarlierVersionDecodesWithTheNewFieldsAtTheirDefaults() throws Exception {
        JobRequest job = JobRequest.newBuilder().setJobId("job-1").setModel("m").setTenant("t")
                .setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(8).setReplyTopic("r")
                .setSubmittedAtMs(1L).build();
        GenericRecord old = new GenericData.Record(PoolBatchSchemas.V1);
        old.put("batch_id", "b-1");
        old.put("pool_id", "p");
        old.put("bucket_upper_tokens", 1024);
        old.put("created_at_ms", 5L);
        old.put("jobs", List.of(job));
        old.put("prompt_blocks", null);
        ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(SpecificData.get(), PoolBatchSchemas.V1).encode(old);
        byte[] wire = new byte[bytes.remaining()];
        bytes.get(wire);

        PoolBatch read = PoolBatchSchemas.serde().decode(wire);
        assertThat(read.getBatchId()).isEqualTo("b-1");
        assertThat(read.getJobs()).extracting(JobRequest::getJobId).containsExactly("job-1");
        assertThat(read.getInstance()).as("not planned").isEqualTo(-1);
        assertThat(read.getEnginePriority()).as("normal interactive priority").isEqualTo(1);
        assertThatThrownBy(() -> new AvroSerde<>(PoolBatch.class).decode(wire))
                .as("without the earlier schema the fingerprint is unknown")
                .isInstanceOf(AvroSerde.AvroDecodeException.class);
    }
}
