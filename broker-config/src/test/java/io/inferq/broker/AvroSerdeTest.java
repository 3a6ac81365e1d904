package io.inferq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobError;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.Lane;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.avro.Usage;
import io.inferq.broker.serde.AvroSerde;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AvroSerdeTest {

    static JobRequest request(String id) {
        return JobRequest.newBuilder()
                .setJobId(id).setTenant("acme").setModel("deepseek-r1")
                .setMessages(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hello")))
                .setMaxTokens(64).setTemperature(0.2).setLane(Lane.BATCH).setPromptTokens(12)
                .setSubmittedAtMs(1_700_000_000_000L).setDeadlineAtMs(1_700_000_060_000L)
                .setCorrelationId("c-1").setReplyTopic("replies").setMetadata(Map.of("k", "v"))
                .setWebhookUrl("https://example.com/hook").setWebhookEvents(List.of("completed"))
                .build();
    }

    @Test
    void everyContractRecordRoundTrips() {
        JobRequest req = request("job-1");
        assertThat(new AvroSerde<>(JobRequest.class).decode(new AvroSerde<>(JobRequest.class).encode(req))).isEqualTo(req);

        PoolBatch batch = new PoolBatch("b-1", "h800-r1", 1024, 5L, List.of(req, request("job-2")), null, 2, 0);
        AvroSerde<PoolBatch> batchSerde = new AvroSerde<>(PoolBatch.class);
        assertThat(batchSerde.decode(batchSerde.encode(batch))).isEqualTo(batch);
        PoolBatch hashed = PoolBatch.newBuilder(batch)
                .setPromptBlocks(new io.inferq.broker.avro.PromptBlocks(64, List.of(List.of(1L, -2L), List.of()))).build();
        assertThat(batchSerde.decode(batchSerde.encode(hashed))).isEqualTo(hashed);

        JobResult result = JobResult.newBuilder().setJobId("job-1").setTenant("acme").setModel("deepseek-r1")
                .setStatus(JobStatusCode.FAILED).setError(new JobError("server_error", "engine_down", "boom"))
                .setUsage(new Usage(12, 0, 0)).setFinishedAtMs(9L).build();
        AvroSerde<JobResult> resultSerde = new AvroSerde<>(JobResult.class);
        assertThat(resultSerde.decode(resultSerde.encode(result))).isEqualTo(result);

        JobEvent event = JobEvent.newBuilder().setJobId("job-1").setTenant("acme").setModel("deepseek-r1")
                .setStatus(JobStatusCode.SUCCEEDED).setAtMs(10L).setStateTimes(Map.of("queued", 1L, "succeeded", 10L))
                .setOutput("hi").setUsage(new Usage(12, 2, 0)).build();
        AvroSerde<JobEvent> eventSerde = new AvroSerde<>(JobEvent.class);
        assertThat(eventSerde.decode(eventSerde.encode(event))).isEqualTo(event);
    }

    @Test
    void encodingCarriesTheSingleObjectMarkerAndSchemaFingerprint() {
        byte[] bytes = new AvroSerde<>(JobRequest.class).encode(request("job-1"));
        assertThat(bytes[0]).isEqualTo((byte) 0xC3);
        assertThat(bytes[1]).isEqualTo((byte) 0x01);
    }

    @Test
    void garbageIsAClearDecodeError() {
        AvroSerde<JobRequest> serde = new AvroSerde<>(JobRequest.class);
        assertThatThrownBy(() -> serde.decode("{\"not\":\"avro\"}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(AvroSerde.AvroDecodeException.class)
                .hasMessageContaining("not a valid Avro single-object record");
    }
}
