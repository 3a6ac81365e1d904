package io.inferq.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.avro.JobError;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.Usage;
import io.inferq.broker.serde.AvroSerde;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ResultRecordsTest {
    private static JobResult sample(boolean failed) {
        return JobResult.newBuilder().setJobId("job_1").setTenant("acme").setModel("deepseek-r1")
                .setStatus(failed ? JobStatusCode.FAILED : JobStatusCode.SUCCEEDED).setOutput(failed ? null : "hi")
                .setFinishReason(failed ? null : "stop")
                .setUsage(failed ? null : Usage.newBuilder().setPromptTokens(7).setCompletionTokens(2).setCachedTokens(4).build())
                .setError(failed ? JobError.newBuilder().setType("server_error").setCode("engine_error").setMessage("boom").build() : null)
                .setCorrelationId("c-1").setPoolId("h800").setChip("h800").setSubmittedAtMs(1_000).setStartedAtMs(failed ? null : 1_100L)
                .setFirstTokenAtMs(failed ? null : 1_150L).setFinishedAtMs(1_200)
                .setToolCallsJson(failed ? null : "[{\"id\":\"call_1\",\"type\":\"function\"}]").build();
    }

    @Test
    void aJsonResultReadsBackAsTheResultItWasWrittenFrom() {
        for (boolean failed : new boolean[] {false, true}) {
            JobResult r = sample(failed);
            assertThat(ResultRecords.fromJson(ResultRecords.json(r))).isEqualTo(r);
            assertThat(ResultRecords.decode(ResultRecords.json(r))).isEqualTo(r);
        }
    }

    @Test
    void decodeTellsTheFormatsApart() {
        JobResult r = sample(false);
        assertThat(ResultRecords.decode(new AvroSerde<>(JobResult.class).encode(r))).isEqualTo(r);
        assertThatThrownBy(() -> ResultRecords.fromJson("{\"job_id\":1,\"status\":\"done\"}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
