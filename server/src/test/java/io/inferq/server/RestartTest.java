package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A job accepted before a restart completes after it: the request sits durably in the embedded
 * broker's log under the data directory, and the job view (Hazelcast) is rebuilt from Kafka.
 */
class RestartTest {

    @Test
    void jobsAcceptedBeforeARestartStillComplete() {
        Path dataDir = TestInferq.tempDir();
        String id;
        // first life: no workers, so the job can only wait in the queue
        try (InferqServer first = TestInferq.startOn(dataDir, tree -> tree.putArray("roles").add("ingress").add("dispatcher"))) {
            var submit = TestInferq.http(first, "POST", "/v1/jobs",
                    "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"survive a restart\"}],\"max_tokens\":8}");
            assertThat(submit.statusCode()).isEqualTo(202);
            id = new JsonObject(submit.body()).getString("id");
            TestInferq.await(Duration.ofSeconds(30), () -> {
                var job = TestInferq.http(first, "GET", "/v1/jobs/" + id, null);
                return job.statusCode() == 200 && new JsonObject(job.body()).getString("status").equals("dispatched");
            }, "job dispatched to a pool topic");
        }
        // second life: same data directory, every role, a brand-new Hazelcast member
        try (InferqServer second = TestInferq.startOn(dataDir, tree -> { })) {
            TestInferq.await(Duration.ofSeconds(60), () -> {
                var job = TestInferq.http(second, "GET", "/v1/jobs/" + id, null);
                return job.statusCode() == 200 && new JsonObject(job.body()).getString("status").equals("succeeded");
            }, "job " + id + " to succeed after the restart");
            JsonObject job = new JsonObject(TestInferq.http(second, "GET", "/v1/jobs/" + id, null).body());
            assertThat(job.getJsonObject("result").getJsonObject("usage").getInteger("completion_tokens")).isEqualTo(8);
        }
    }
}
