package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Batch API end to end on a fast simulated fleet with two tenants: a 10,000-line batch, validation errors with
 * their line numbers, what create refuses, tenancy, two tenants' batches at once, and a cancel in the middle.
 */
class BatchApiTest {
    static final String ACME = "sk-acme-batch";
    static final String BETA = "sk-beta-batch";
    static InferqServer server;

    @BeforeAll
    static void start() {
        server = TestInferq.start(tree -> {
            var tenants = tree.putArray("tenants");
            tenants.addObject().put("id", "acme").putArray("api-keys").add(ACME);
            tenants.addObject().put("id", "beta").putArray("api-keys").add(BETA);
            // a fast fleet: simulated pools 100,000 times faster than real time, taking large batches
            tree.withArray("pools").forEach(p -> ((ObjectNode) p).put("time-scale", 100_000.0)
                    .put("max-concurrent-sequences", 256).put("max-batch-tokens", 65_536));
        });
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static Set<String> customIds(List<JsonObject> lines) {
        Set<String> ids = new HashSet<>();
        lines.forEach(l -> assertThat(ids.add(l.getString("custom_id"))).as("custom_id %s twice", l.getString("custom_id")).isTrue());
        return ids;
    }

    @Test
    void aTenThousandLineBatchRunsToCompletion() {
        int n = 10_000;
        String file = BatchHttp.uploadOk(server, ACME, BatchHttp.lines("big-", n, 4));
        long t0 = System.nanoTime();
        JsonObject created = BatchHttp.createOk(server, ACME, file);
        JsonObject done = BatchHttp.await(server, ACME, created.getString("id"), Set.of("completed", "failed"), Duration.ofSeconds(180));
        long wallMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("10,000-line batch: created -> completed in %d ms (%.0f lines/s)%n", wallMs, n * 1000.0 / wallMs);
        assertThat(done.getString("status")).as(done.encodePrettily()).isEqualTo("completed");
        assertThat(done.getJsonObject("request_counts").getInteger("total")).isEqualTo(n);
        assertThat(done.getJsonObject("request_counts").getInteger("completed")).isEqualTo(n);
        assertThat(done.getString("model")).isEqualTo("deepseek-v2-lite");
        assertThat(done.getJsonObject("usage").getLong("total_tokens")).isPositive();
        List<JsonObject> out = BatchHttp.content(server, ACME, done.getString("output_file_id"));
        assertThat(customIds(out)).hasSize(n);
        JsonObject first = out.get(0);
        assertThat(first.getJsonObject("response").getJsonObject("body").getString("object")).isEqualTo("chat.completion");
        assertThat(first.getString("id")).isEqualTo(first.getJsonObject("response").getString("request_id"));
        assertThat(done.getValue("error_file_id")).isNull();
        // the output file is the tenant's, with purpose batch_output
        JsonObject outFile = new JsonObject(TestInferq.http(server, "GET", "/v1/files/" + done.getString("output_file_id"), null,
                BatchHttp.auth(ACME)).body());
        assertThat(outFile.getString("purpose")).isEqualTo("batch_output");
        assertThat(TestInferq.http(server, "GET", "/v1/files/" + done.getString("output_file_id"), null, BatchHttp.auth(BETA))
                .statusCode()).isEqualTo(404);
    }

    @Test
    void everyValidationErrorNamesItsLine() {
        List<String> lines = new ArrayList<>();
        lines.add(BatchHttp.line("ok-1", "deepseek-v2-lite", 4).encode());                                       // 1
        lines.add("{not json");                                                                                    // 2
        lines.add(BatchHttp.line("x", "deepseek-v2-lite", 4).put("custom_id", (String) null).encode());           // 3
        lines.add(BatchHttp.line("ok-1", "deepseek-v2-lite", 4).encode());                                       // 4 duplicate
        lines.add(BatchHttp.line("u", "deepseek-v2-lite", 4).put("url", "/v1/embeddings").encode());             // 5
        lines.add(BatchHttp.line("m", "deepseek-v2-lite", 4).put("method", "GET").encode());                     // 6
        lines.add(BatchHttp.line("t", "deepseek-v2-lite", 0).encode());                                          // 7 max_tokens
        lines.add(BatchHttp.line("r", "deepseek-r1", 4).encode());                                               // 8 mixed
        lines.add("");                                                                                             // 9 blank
        lines.add(BatchHttp.line("s", "deepseek-v2-lite", 4).put("body", BatchHttp.line("s", "deepseek-v2-lite", 4)
                .getJsonObject("body").put("stream", true)).encode());                                             // 10
        lines.add(BatchHttp.line("ok-2", "deepseek-v2-lite", 4).encode());                                       // 11
        String file = BatchHttp.uploadOk(server, ACME, String.join("\n", lines).getBytes(StandardCharsets.UTF_8));
        JsonObject created = BatchHttp.createOk(server, ACME, file);
        JsonObject failed = BatchHttp.await(server, ACME, created.getString("id"), Set.of("failed", "in_progress", "completed"),
                Duration.ofSeconds(60));
        assertThat(failed.getString("status")).isEqualTo("failed");
        assertThat(failed.getLong("failed_at")).isNotNull();
        JsonArray data = failed.getJsonObject("errors").getJsonArray("data");
        List<String> got = new ArrayList<>();
        for (int i = 0; i < data.size(); i++) {
            JsonObject e = data.getJsonObject(i);
            got.add(e.getInteger("line") + ":" + e.getString("code"));
            assertThat(e.getString("message")).isNotBlank();
        }
        assertThat(got).containsExactly("2:invalid_json_line", "3:missing_custom_id", "4:duplicate_custom_id", "5:invalid_url",
                "6:invalid_method", "7:invalid_max_tokens", "8:mixed_models", "10:unsupported_parameter");
        assertThat(data.getJsonObject(5).getString("param")).isEqualTo("body.max_tokens");
    }

    @Test
    void createRefusesAnEmptyFileAnotherTenantsFileAndAnOutputFile() {
        assertThat(BatchHttp.create(server, ACME, BatchHttp.uploadOk(server, ACME, new byte[0])).statusCode()).isEqualTo(400);
        String betas = BatchHttp.uploadOk(server, BETA, BatchHttp.lines("b-", 2, 4));
        var other = BatchHttp.create(server, ACME, betas);
        assertThat(other.statusCode()).isEqualTo(400);
        assertThat(other.body()).contains("invalid_input_file");
        assertThat(TestInferq.http(server, "GET", "/v1/files/" + betas, null, BatchHttp.auth(ACME)).statusCode()).isEqualTo(404);
        assertThat(TestInferq.http(server, "GET", "/v1/files/" + betas + "/content", null, BatchHttp.auth(ACME)).statusCode())
                .isEqualTo(404);
        assertThat(TestInferq.http(server, "DELETE", "/v1/files/" + betas, null, BatchHttp.auth(ACME)).statusCode()).isEqualTo(404);
        assertThat(BatchHttp.upload(server, ACME, BatchHttp.lines("p-", 1, 4), "fine-tune").statusCode()).isEqualTo(400);
        assertThat(BatchHttp.create(server, ACME, "file-doesnotexist").statusCode()).isEqualTo(400);
        assertThat(BatchHttp.upload(server, null, BatchHttp.lines("p-", 1, 4), "batch").statusCode()).isEqualTo(401);
        // a batch_output file cannot be a batch's input
        JsonObject done = BatchHttp.await(server, BETA, BatchHttp.createOk(server, BETA, betas).getString("id"), Set.of("completed"),
                Duration.ofSeconds(60));
        var fromOutput = BatchHttp.create(server, BETA, done.getString("output_file_id"));
        assertThat(fromOutput.statusCode()).isEqualTo(400);
        assertThat(fromOutput.body()).contains("purpose");
        assertThat(TestInferq.http(server, "GET", "/v1/batches/" + done.getString("id"), null, BatchHttp.auth(ACME)).statusCode())
                .isEqualTo(404);
    }

    @Test
    void twoTenantsBatchesRunAtOnceAndEachListsOnlyItsOwn() {
        String a = BatchHttp.createOk(server, ACME, BatchHttp.uploadOk(server, ACME, BatchHttp.lines("ta-", 300, 4))).getString("id");
        String b = BatchHttp.createOk(server, BETA, BatchHttp.uploadOk(server, BETA, BatchHttp.lines("tb-", 300, 4))).getString("id");
        JsonObject da = BatchHttp.await(server, ACME, a, Set.of("completed", "failed"), Duration.ofSeconds(120));
        JsonObject db = BatchHttp.await(server, BETA, b, Set.of("completed", "failed"), Duration.ofSeconds(120));
        assertThat(customIds(BatchHttp.content(server, ACME, da.getString("output_file_id")))).hasSize(300);
        assertThat(customIds(BatchHttp.content(server, BETA, db.getString("output_file_id")))).hasSize(300);
        JsonObject acmeList = new JsonObject(TestInferq.http(server, "GET", "/v1/batches?limit=100", null, BatchHttp.auth(ACME)).body());
        List<String> ids = new ArrayList<>();
        acmeList.getJsonArray("data").forEach(o -> ids.add(((JsonObject) o).getString("id")));
        assertThat(ids).contains(a).doesNotContain(b);
        // cursor pages
        JsonObject page1 = new JsonObject(TestInferq.http(server, "GET", "/v1/batches?limit=1", null, BatchHttp.auth(ACME)).body());
        assertThat(page1.getJsonArray("data")).hasSize(1);
        if (page1.getBoolean("has_more")) {
            JsonObject page2 = new JsonObject(TestInferq.http(server, "GET", "/v1/batches?limit=1&after=" + page1.getString("last_id"),
                    null, BatchHttp.auth(ACME)).body());
            assertThat(page2.getJsonArray("data").getJsonObject(0).getString("id")).isNotEqualTo(page1.getString("last_id"));
        }
    }

    @Test
    void aCancelledBatchKeepsItsResultsAndListsEveryLineOnce() {
        int n = 3000;
        String id = BatchHttp.createOk(server, BETA, BatchHttp.uploadOk(server, BETA, BatchHttp.lines("c-", n, 4))).getString("id");
        BatchHttp.await(server, BETA, id, Set.of("in_progress", "completed"), Duration.ofSeconds(60));
        var r = TestInferq.http(server, "POST", "/v1/batches/" + id + "/cancel", null, BatchHttp.auth(BETA));
        JsonObject done;
        if (r.statusCode() == 409) {
            done = BatchHttp.get(server, BETA, id); // it finished first
            assertThat(done.getString("status")).isEqualTo("completed");
        } else {
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(new JsonObject(r.body()).getString("status")).isEqualTo("cancelling");
            done = BatchHttp.await(server, BETA, id, Set.of("cancelled"), Duration.ofSeconds(120));
            assertThat(done.getLong("cancelling_at")).isNotNull();
            assertThat(done.getLong("cancelled_at")).isNotNull();
        }
        List<JsonObject> all = new ArrayList<>(BatchHttp.content(server, BETA, done.getString("output_file_id")));
        List<JsonObject> errors = BatchHttp.content(server, BETA, done.getString("error_file_id"));
        errors.forEach(e -> assertThat(e.getJsonObject("error").getString("code")).isEqualTo("batch_cancelled"));
        all.addAll(errors);
        assertThat(customIds(all)).hasSize(n);
        assertThat(done.getJsonObject("request_counts").getInteger("completed")).isEqualTo(all.size() - errors.size());
        assertThat(TestInferq.http(server, "POST", "/v1/batches/" + id + "/cancel", null, BatchHttp.auth(BETA)).statusCode())
                .isEqualTo(409);
    }
}
