package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonObject;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * A slow fleet and a short completion window: a batch that cannot finish in time expires with its finished lines in the
 * output file and the others in the error file as {@code batch_expired} (each custom_id exactly once), and its
 * {@code batch.expired} webhook is delivered. Per-tenant limits answer 429 with Retry-After.
 */
class BatchExpiryAndLimitsTest {

    @Test
    void aBatchPastItsWindowExpiresWithItsPartialResultsAndLimitsAnswer429() throws Exception {
        Map<String, JsonObject> received = new ConcurrentHashMap<>();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/hook", ex -> {
            JsonObject body = new JsonObject(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            body.put("_webhook_id", ex.getRequestHeaders().getFirst("webhook-id"))
                    .put("_signature", ex.getRequestHeaders().getFirst("webhook-signature"));
            received.put(body.getString("type"), body);
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        receiver.start();
        try (InferqServer server = TestInferq.start(tree -> {
            ((ObjectNode) tree.get("batches")).put("completion-window-seconds", 15).put("tenant-max-batches-in-progress", 1)
                    .put("max-file-bytes", 100_000).put("tenant-max-stored-bytes", 150_000);
            ((ObjectNode) tree.get("webhooks")).putArray("allow-private-targets").add("127.0.0.1");
            // real time, small batches: the long lines of the batch take far longer than 15 s, its short ones a moment
            tree.withArray("pools").forEach(p -> ((ObjectNode) p).put("time-scale", 1.0).put("max-concurrent-sequences", 2));
        })) {
            // storage limits: a file over max-file-bytes is refused, and past the tenant's stored bytes 429
            assertThat(BatchHttp.upload(server, null, new byte[120_000], "batch").statusCode()).isEqualTo(413);
            // 10 short lines that finish within the window, then 390 long ones that cannot all finish in it (3 lite
            // instances x 2 sequences; each long line decodes up to 4,096 tokens in real time), however fast the host
            byte[] short10 = BatchHttp.lines("exp-short-", 10, 16);
            byte[] long390 = BatchHttp.lines("exp-long-", 390, 4096);
            byte[] input = new byte[short10.length + long390.length];
            System.arraycopy(short10, 0, input, 0, short10.length);
            System.arraycopy(long390, 0, input, short10.length, long390.length);
            String file = BatchHttp.uploadOk(server, null, input);
            String spare = BatchHttp.uploadOk(server, null, BatchHttp.lines("spare-", 300, 4));
            var full = BatchHttp.upload(server, null, BatchHttp.lines("more-", 300, 4), "batch");
            assertThat(full.statusCode()).as(full.body()).isEqualTo(429);
            assertThat(full.headers().firstValue("Retry-After")).isPresent();

            String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
            var createdResponse = TestInferq.http(server, "POST", "/v1/batches", new JsonObject().put("input_file_id", file)
                    .put("endpoint", "/v1/chat/completions").put("completion_window", "24h").put("webhook", url).encode());
            assertThat(createdResponse.statusCode()).as(createdResponse.body()).isEqualTo(200);
            JsonObject created = new JsonObject(createdResponse.body());
            assertThat(created.getLong("expires_at") - created.getLong("created_at")).isBetween(14L, 16L);

            // one batch in progress at most for this tenant
            var second = BatchHttp.create(server, null, spare);
            assertThat(second.statusCode()).as(second.body()).isEqualTo(429);
            assertThat(second.headers().firstValue("Retry-After")).isPresent();

            JsonObject expired = BatchHttp.await(server, null, created.getString("id"), Set.of("expired", "completed"),
                    Duration.ofSeconds(120));
            assertThat(expired.getString("status")).isEqualTo("expired");
            assertThat(expired.getLong("expired_at")).isNotNull();
            List<JsonObject> out = BatchHttp.content(server, null, expired.getString("output_file_id"));
            List<JsonObject> errors = BatchHttp.content(server, null, expired.getString("error_file_id"));
            assertThat(out).as("the lines finished in the window are kept").isNotEmpty();
            assertThat(errors).isNotEmpty();
            errors.forEach(e -> assertThat(e.getJsonObject("error").getString("code")).isEqualTo("batch_expired"));
            Set<String> ids = new HashSet<>();
            List<JsonObject> all = new ArrayList<>(out);
            all.addAll(errors);
            all.forEach(l -> assertThat(ids.add(l.getString("custom_id"))).isTrue());
            assertThat(ids).hasSize(400);
            assertThat(expired.getJsonObject("request_counts").getInteger("completed")).isEqualTo(out.size());

            TestInferq.await(Duration.ofSeconds(60), () -> received.containsKey("batch.expired"), "the batch.expired webhook");
            JsonObject hook = received.get("batch.expired");
            assertThat(hook.getJsonObject("data").getString("id")).isEqualTo(created.getString("id"));
            assertThat(hook.getJsonObject("data").getString("status")).isEqualTo("expired");
            assertThat(hook.getJsonObject("data").containsKey("_inferq")).isFalse();
            assertThat(hook.getString("_webhook_id")).startsWith("msg_");
            assertThat(hook.getString("_signature")).startsWith("v1,");

            // with the first batch over, the tenant may start another
            assertThat(BatchHttp.create(server, null, spare).statusCode()).isEqualTo(200);
        } finally {
            receiver.stop(0);
        }
    }
}
