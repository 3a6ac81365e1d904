package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Two processes on one cluster: the first runs ingress and dispatcher with the embedded broker and
 * Hazelcast member; the second runs only workers, as a client of both (external Kafka + external
 * Hazelcast, as in production). Jobs cancelled or past their deadline while waiting never run.
 */
class ScaleOutCancelExpiryTest {

    @Test
    void cancelledAndExpiredJobsNeverRunOnWorkersThatJoinLater() {
        try (InferqServer front = TestInferq.start(tree -> tree.putArray("roles").add("ingress").add("dispatcher"))) {
            String cancelled = submit(front, "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"cancel me\"}],\"max_tokens\":8}", null);
            String expiring = submit(front, "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"too late\"}],\"max_tokens\":8}", "4s");
            awaitStatus(front, cancelled, "dispatched");
            awaitStatus(front, expiring, "dispatched");

            var cancel = TestInferq.http(front, "POST", "/v1/jobs/" + cancelled + "/cancel", null);
            assertThat(cancel.statusCode()).isEqualTo(200);
            assertThat(new JsonObject(cancel.body()).getString("status")).isEqualTo("cancelled");
            // the second cancel of a terminal job conflicts
            assertThat(TestInferq.http(front, "POST", "/v1/jobs/" + cancelled + "/cancel", null).statusCode()).isEqualTo(409);
            TestInferq.await(Duration.ofSeconds(15), () -> System.currentTimeMillis() > deadlineOf(front, expiring), "deadline passed");

            String hzAddress = "127.0.0.1:" + front.hazelcast().getCluster().getLocalMember().getAddress().getPort();
            try (InferqServer workers = TestInferq.start(tree -> {
                tree.putArray("roles").add("workers");
                ((com.fasterxml.jackson.databind.node.ObjectNode) tree.get("kafka")).put("embedded", false)
                        .put("bootstrap-servers", front.kafkaBootstrapServers());
                var hz = (com.fasterxml.jackson.databind.node.ObjectNode) tree.get("hazelcast");
                hz.put("embedded", false).put("cluster-name", front.hazelcast().getConfig().getClusterName());
                hz.putArray("members").add(hzAddress);
            })) {
                String runs = submit(front, "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"run me\"}],\"max_tokens\":8}", null);
                awaitStatus(front, runs, "succeeded");
                awaitStatus(front, expiring, "expired");
                JsonObject expired = job(front, expiring);
                assertThat(expired.getJsonObject("error").getString("code")).isEqualTo("deadline_exceeded");
                assertThat(expired.getJsonObject("timestamps").containsKey("running_at")).as("an expired job never ran").isFalse();
                JsonObject c = job(front, cancelled);
                assertThat(c.getString("status")).isEqualTo("cancelled");
                assertThat(c.getJsonObject("timestamps").containsKey("running_at")).as("a cancelled job never ran").isFalse();
                // the cancelled job's batch reached a worker, which skipped it
                TestInferq.await(Duration.ofSeconds(30), () -> workers.registry().find("inferq.worker.jobs")
                        .tag("outcome", "skipped_terminal").counters().stream().mapToDouble(m -> m.count()).sum() == 1.0,
                        "the worker to skip the cancelled job");
                assertThat(job(front, cancelled).getString("status")).isEqualTo("cancelled");
            }
        }
    }

    private static String submit(InferqServer s, String body, String cancelAfter) {
        var r = cancelAfter == null ? TestInferq.http(s, "POST", "/v1/jobs", body)
                : TestInferq.http(s, "POST", "/v1/jobs", body, "Cancel-After", cancelAfter);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        return new JsonObject(r.body()).getString("id");
    }

    private static JsonObject job(InferqServer s, String id) {
        return new JsonObject(TestInferq.http(s, "GET", "/v1/jobs/" + id, null).body());
    }

    /** @return a time in ms by which the job's deadline has surely passed ({@code deadline_at} is whole Unix seconds) */
    private static long deadlineOf(InferqServer s, String id) {
        return job(s, id).getLong("deadline_at") * 1000 + 1000;
    }

    private static void awaitStatus(InferqServer s, String id, String status) {
        TestInferq.await(Duration.ofSeconds(60), () -> {
            var r = TestInferq.http(s, "GET", "/v1/jobs/" + id, null);
            return r.statusCode() == 200 && status.equals(new JsonObject(r.body()).getString("status"));
        }, id + " to be " + status);
    }
}
