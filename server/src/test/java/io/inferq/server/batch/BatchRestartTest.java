package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A server stopped in the middle of a batch and started again on the same data directory (a new Hazelcast member,
 * state rebuilt from Kafka) finishes the batch: the file, the batch and its progress come back from Kafka, and every
 * custom_id is in the output exactly once.
 */
class BatchRestartTest {

    @Test
    void aBatchInterruptedByARestartCompletesWithEveryLineOnce() {
        Path dataDir = TestInferq.tempDir();
        int n = 1500;
        String id;
        try (InferqServer first = TestInferq.startOn(dataDir, tree -> tree.withArray("pools").forEach(p -> ((ObjectNode) p)
                .put("time-scale", 20.0).put("max-concurrent-sequences", 8)))) {
            String file = BatchHttp.uploadOk(first, null, BatchHttp.lines("rs-", n, 16));
            id = BatchHttp.createOk(first, null, file).getString("id");
            TestInferq.await(Duration.ofSeconds(120), () -> {
                JsonObject b = BatchHttp.get(first, null, id);
                return b.getJsonObject("request_counts").getInteger("completed") > 0;
            }, "the batch to be under way");
            assertThat(BatchHttp.get(first, null, id).getString("status")).isEqualTo("in_progress");
        }
        try (InferqServer second = TestInferq.startOn(dataDir, tree -> tree.withArray("pools").forEach(p -> ((ObjectNode) p)
                .put("time-scale", 100_000.0).put("max-concurrent-sequences", 256).put("max-batch-tokens", 65_536)))) {
            JsonObject done = BatchHttp.await(second, null, id, Set.of("completed", "failed", "expired"), Duration.ofSeconds(180));
            assertThat(done.getString("status")).isEqualTo("completed");
            List<JsonObject> out = BatchHttp.content(second, null, done.getString("output_file_id"));
            List<JsonObject> errors = BatchHttp.content(second, null, done.getString("error_file_id"));
            Set<String> ids = new HashSet<>();
            out.forEach(l -> assertThat(ids.add(l.getString("custom_id"))).as("duplicate %s", l.getString("custom_id")).isTrue());
            errors.forEach(l -> assertThat(ids.add(l.getString("custom_id"))).as("duplicate %s", l.getString("custom_id")).isTrue());
            assertThat(ids).hasSize(n);
            assertThat(out).hasSize(n);
        }
    }
}
