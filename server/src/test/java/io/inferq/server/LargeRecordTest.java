package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A request record larger than Kafka's 1 MB default: 400,000 CJK characters are 1.2 MB of UTF-8 and about 100k tokens
 * by the intake's estimate (characters ÷ 4), which a long-context pool's {@code max-batch-tokens} admits. inferq's topics
 * and producers take records up to {@code TopicCatalogue.MAX_RECORD_BYTES}, so the job is queued rather than refused as
 * "unavailable, try again" forever; the dispatcher's tokenizer then counts one token per character and the job ends
 * {@code failed} with that reason.
 */
class LargeRecordTest {

    @Test
    void aRequestLargerThanKafkasDefaultRecordLimitIsQueuedAndEndsWithItsReason() {
        try (InferqServer server = TestInferq.start(tree -> tree.withArray("pools").forEach(p -> {
            if ("h800-r1".equals(p.get("id").asText())) {
                ((ObjectNode) p).put("max-batch-tokens", 131072);
            }
        }))) {
            String prompt = "字".repeat(400_000);
            var r = TestInferq.http(server, "POST", "/v1/jobs", "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\""
                    + prompt + "\"}],\"max_tokens\":8}");
            assertThat(r.statusCode()).as(r.statusCode() == 202 ? "" : r.body()).isEqualTo(202);
            String id = new JsonObject(r.body()).getString("id");
            TestInferq.await(Duration.ofSeconds(60), () -> "failed".equals(job(server, id).getString("status")), id + " to end");
            JsonObject error = job(server, id).getJsonObject("error");
            assertThat(error.getString("code")).isEqualTo("not_runnable");
            assertThat(error.getString("message")).contains("400022 tokens", "131072");
        }
    }

    private static JsonObject job(InferqServer server, String id) {
        return new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + id, null).body());
    }
}
