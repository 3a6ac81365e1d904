package io.inferq.server.batch;

import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Files and Batch API calls for the integration tests (the SDK test uses the official client instead). */
final class BatchHttp {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private BatchHttp() {
    }

    /** A JSONL input of {@code n} valid request lines for deepseek-v2-lite, custom ids {@code prefix0..}. */
    static byte[] lines(String prefix, int n, int maxTokens) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(line(prefix + i, "deepseek-v2-lite", maxTokens).encode()).append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    static JsonObject line(String customId, String model, int maxTokens) {
        return new JsonObject().put("custom_id", customId).put("method", "POST").put("url", "/v1/chat/completions")
                .put("body", new JsonObject().put("model", model).put("max_tokens", maxTokens)
                        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hello " + customId))));
    }

    static HttpResponse<String> upload(InferqServer server, String apiKey, byte[] content, String purpose) {
        String boundary = "----inferq" + System.nanoTime();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        write(body, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" + purpose + "\r\n");
        write(body, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"input.jsonl\"\r\n"
                + "Content-Type: application/jsonl\r\n\r\n");
        body.writeBytes(content);
        write(body, "\r\n--" + boundary + "--\r\n");
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + "/v1/files"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()));
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        try {
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    static String[] auth(String apiKey) {
        return apiKey == null ? new String[0] : new String[] {"Authorization", "Bearer " + apiKey};
    }

    /** Uploads and returns the file id (asserting 200). */
    static String uploadOk(InferqServer server, String apiKey, byte[] content) {
        HttpResponse<String> r = upload(server, apiKey, content, "batch");
        if (r.statusCode() != 200) {
            throw new AssertionError("upload answered " + r.statusCode() + ": " + r.body());
        }
        return new JsonObject(r.body()).getString("id");
    }

    static HttpResponse<String> create(InferqServer server, String apiKey, String fileId) {
        return TestInferq.http(server, "POST", "/v1/batches", new JsonObject().put("input_file_id", fileId)
                .put("endpoint", "/v1/chat/completions").put("completion_window", "24h").encode(), auth(apiKey));
    }

    static JsonObject createOk(InferqServer server, String apiKey, String fileId) {
        HttpResponse<String> r = create(server, apiKey, fileId);
        if (r.statusCode() != 200) {
            throw new AssertionError("create answered " + r.statusCode() + ": " + r.body());
        }
        return new JsonObject(r.body());
    }

    static JsonObject get(InferqServer server, String apiKey, String batchId) {
        var r = TestInferq.http(server, "GET", "/v1/batches/" + batchId, null, auth(apiKey));
        if (r.statusCode() != 200) {
            throw new AssertionError("GET batch " + batchId + " answered " + r.statusCode() + ": " + r.body());
        }
        return new JsonObject(r.body());
    }

    static JsonObject await(InferqServer server, String apiKey, String batchId, Set<String> statuses, Duration timeout) {
        JsonObject[] last = new JsonObject[1];
        TestInferq.await(timeout, () -> {
            last[0] = get(server, apiKey, batchId);
            return statuses.contains(last[0].getString("status"));
        }, "batch " + batchId + " to reach " + statuses);
        return last[0];
    }

    /** The lines of a file's content (empty for a null id). */
    static List<JsonObject> content(InferqServer server, String apiKey, String fileId) {
        List<JsonObject> out = new ArrayList<>();
        if (fileId == null) {
            return out;
        }
        HttpResponse<String> r = TestInferq.http(server, "GET", "/v1/files/" + fileId + "/content", null, auth(apiKey));
        if (r.statusCode() != 200) {
            throw new AssertionError("content of " + fileId + " answered " + r.statusCode() + ": " + r.body());
        }
        for (String l : r.body().split("\n")) {
            if (!l.isBlank()) {
                out.add(new JsonObject(l));
            }
        }
        return out;
    }
}
