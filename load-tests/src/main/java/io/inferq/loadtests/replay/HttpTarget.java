package io.inferq.loadtests.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;

/** {@code POST /v1/jobs} with a one-message chat-completions body. Thread-safe. */
public final class HttpTarget implements Target {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI jobs;
    private final String apiKey;
    private final Duration cancelAfter;
    private final ExecutorService executor;
    private final HttpClient http;

    /** @param baseUrl e.g. {@code http://127.0.0.1:8080}; @param apiKey bearer key or null (open access) */
    public HttpTarget(String baseUrl, String apiKey) {
        this(baseUrl, apiKey, null);
    }

    /** @param cancelAfter sent as {@code Cancel-After} (the job's deadline, counted from its submit), or null for none */
    public HttpTarget(String baseUrl, String apiKey, Duration cancelAfter) {
        this.jobs = URI.create(baseUrl.replaceAll("/+$", "") + "/v1/jobs");
        this.apiKey = apiKey;
        this.cancelAfter = cancelAfter;
        this.executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "load-http");
            t.setDaemon(true);
            return t;
        });
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    public static String body(String model, String prompt, int maxTokens) {
        ObjectNode b = JSON.createObjectNode().put("model", model).put("max_tokens", maxTokens);
        b.putArray("messages").addObject().put("role", "user").put("content", prompt);
        return b.toString();
    }

    @Override
    public CompletableFuture<Answer> submit(String model, String prompt, int maxTokens) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(jobs).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body(model, prompt, maxTokens)));
        if (apiKey != null) {
            rb.header("Authorization", "Bearer " + apiKey);
        }
        if (cancelAfter != null) {
            rb.header("Cancel-After", Math.max(1, cancelAfter.toMillis()) + "ms");
        }
        return http.sendAsync(rb.build(), HttpResponse.BodyHandlers.ofString()).handle((resp, ex) -> {
            if (ex != null) {
                Throwable root = rootCause(ex);
                return new Answer(0, null, "transport:" + root.getClass().getSimpleName(), root.getMessage());
            }
            try {
                JsonNode n = JSON.readTree(resp.body());
                if (resp.statusCode() == 202 || resp.statusCode() == 200) {
                    return new Answer(resp.statusCode(), n.path("id").asText(null), null);
                }
                JsonNode err = n.path("error");
                return new Answer(resp.statusCode(), null, err.path("code").asText("http_" + resp.statusCode()),
                        err.path("message").asText(null));
            } catch (java.io.IOException | RuntimeException e) {
                return new Answer(resp.statusCode(), null, "unparseable_answer", e.toString());
            }
        });
    }

    static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    @Override
    public String kind() {
        return "http";
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
