package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Two ingress processes on one cluster (the second runs only ingress, as a client of the first's broker and Hazelcast
 * member): a file uploaded through one is listed and downloaded through the other; batches created on either run to
 * completion whichever process owns them; a batch created on one is seen and cancelled through the other.
 */
class BatchScaleOutTest {

    @Test
    void filesAndBatchesAreServedByEitherIngressProcess() {
        try (InferqServer front = TestInferq.start(tree -> tree.withArray("pools").forEach(p -> ((ObjectNode) p)
                .put("time-scale", 100_000.0)))) {
            String hzAddress = "127.0.0.1:" + front.hazelcast().getCluster().getLocalMember().getAddress().getPort();
            try (InferqServer second = TestInferq.start(tree -> {
                tree.putArray("roles").add("ingress");
                ((ObjectNode) tree.get("kafka")).put("embedded", false).put("bootstrap-servers", front.kafkaBootstrapServers());
                ObjectNode hz = (ObjectNode) tree.get("hazelcast");
                hz.put("embedded", false).put("cluster-name", front.hazelcast().getConfig().getClusterName());
                hz.putArray("members").add(hzAddress);
            })) {
                byte[] input = BatchHttp.lines("so-", 50, 4);
                String file = BatchHttp.uploadOk(second, null, input);
                var downloaded = TestInferq.http(front, "GET", "/v1/files/" + file + "/content", null);
                assertThat(downloaded.statusCode()).isEqualTo(200);
                assertThat(downloaded.body()).isEqualTo(new String(input, java.nio.charset.StandardCharsets.UTF_8));
                assertThat(TestInferq.http(front, "GET", "/v1/files", null).body()).contains(file);

                // batches created on both processes complete; each is visible on the other at once
                List<String> ids = new ArrayList<>();
                for (InferqServer on : new InferqServer[] {front, second, front, second}) {
                    String id = BatchHttp.createOk(on, null, file).getString("id");
                    ids.add(id);
                    assertThat(BatchHttp.get(on == front ? second : front, null, id).getString("id")).isEqualTo(id);
                }
                for (String id : ids) {
                    JsonObject done = BatchHttp.await(front, null, id, Set.of("completed", "failed"), Duration.ofSeconds(120));
                    assertThat(done.getString("status")).isEqualTo("completed");
                    List<JsonObject> out = BatchHttp.content(second, null, done.getString("output_file_id"));
                    Set<String> custom = new HashSet<>();
                    out.forEach(l -> assertThat(custom.add(l.getString("custom_id"))).isTrue());
                    assertThat(custom).hasSize(50);
                }

                // created on one, cancelled through the other
                String big = BatchHttp.uploadOk(front, null, BatchHttp.lines("sc-", 3000, 4));
                String id = BatchHttp.createOk(front, null, big).getString("id");
                // cancelled while in progress (a batch cancelled while still validating ends with no lines run and no files)
                BatchHttp.await(front, null, id, Set.of("in_progress", "completed", "failed"), Duration.ofSeconds(120));
                var cancel = TestInferq.http(second, "POST", "/v1/batches/" + id + "/cancel", null);
                assertThat(cancel.statusCode()).as(cancel.body()).isIn(200, 409);
                if (cancel.statusCode() == 200) {
                    assertThat(new JsonObject(cancel.body()).getString("status")).isEqualTo("cancelling");
                    assertThat(BatchHttp.get(front, null, id).getString("status")).isIn("cancelling", "cancelled");
                    JsonObject cancelled = BatchHttp.await(front, null, id, Set.of("cancelled"), Duration.ofSeconds(120));
                    List<JsonObject> all = new ArrayList<>(BatchHttp.content(second, null, cancelled.getString("output_file_id")));
                    all.addAll(BatchHttp.content(second, null, cancelled.getString("error_file_id")));
                    Set<String> custom = new HashSet<>();
                    all.forEach(l -> assertThat(custom.add(l.getString("custom_id"))).isTrue());
                    assertThat(custom).hasSize(3000);
                }
            }
        }
    }
}
