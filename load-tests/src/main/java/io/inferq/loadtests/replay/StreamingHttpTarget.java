package io.inferq.loadtests.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code POST /v1/chat/completions} with {@code stream: true}, as a chat client sends it: measures the time to first
 * token as the client sees it (send → first {@code delta.content} of the event stream) and the time to the stream's
 * end. The submit's future completes with the first chunk (its {@code id} is the job id), so the replay's tracker
 * follows the job as usual; the stream is read to its end on the client's threads. Thread-safe.
 */
public final class StreamingHttpTarget implements Target {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI completions;
    private final String apiKey;
    private final ExecutorService executor;
    /** One thread per open stream reads it (the client's own executor must stay free to deliver the bytes). */
    private final ExecutorService readers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "load-stream-reader");
        t.setDaemon(true);
        return t;
    });
    private final HttpClient http;
    private final List<Double> ttftMs = Collections.synchronizedList(new ArrayList<>());
    private final List<Double> streamMs = Collections.synchronizedList(new ArrayList<>());

    public StreamingHttpTarget(String baseUrl, String apiKey) {
        this.completions = URI.create(baseUrl.replaceAll("/+$", "") + "/v1/chat/completions");
        this.apiKey = apiKey;
        this.executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "load-stream");
            t.setDaemon(true);
            return t;
        });
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    @Override
    public CompletableFuture<Answer> submit(String model, String prompt, int maxTokens) {
        ObjectNode b = (ObjectNode) readTree(HttpTarget.body(model, prompt, maxTokens));
        b.put("stream", true);
        HttpRequest.Builder rb = HttpRequest.newBuilder(completions).timeout(Duration.ofMinutes(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(b.toString()));
        if (apiKey != null) {
            rb.header("Authorization", "Bearer " + apiKey);
        }
        CompletableFuture<Answer> answer = new CompletableFuture<>();
        long sent = System.nanoTime();
        http.sendAsync(rb.build(), HttpResponse.BodyHandlers.ofLines()).whenCompleteAsync((resp, ex) -> {
            if (ex != null) {
                Throwable root = HttpTarget.rootCause(ex);
                answer.complete(new Answer(0, null, "transport:" + root.getClass().getSimpleName(), root.getMessage()));
                return;
            }
            if (resp.statusCode() != 200) {
                String body = String.join("\n", resp.body().toList());
                JsonNode err = readTree(body).path("error");
                answer.complete(new Answer(resp.statusCode(), null, err.path("code").asText("http_" + resp.statusCode()),
                        err.path("message").asText(null)));
                return;
            }
            AtomicBoolean first = new AtomicBoolean(true);
            resp.body().forEach(line -> {
                if (!line.startsWith("data: ") || line.startsWith("data: [DONE]")) {
                    return;
                }
                JsonNode chunk = readTree(line.substring(6));
                if (!answer.isDone()) {
                    answer.complete(chunk.has("error") ? new Answer(200, null, chunk.path("error").path("code").asText("stream_error"),
                            chunk.path("error").path("message").asText(null)) : new Answer(202, chunk.path("id").asText(null), null));
                }
                String piece = chunk.path("choices").path(0).path("delta").path("content").asText("");
                if (!piece.isEmpty() && first.getAndSet(false)) {
                    ttftMs.add((System.nanoTime() - sent) / 1e6);
                }
            });
            streamMs.add((System.nanoTime() - sent) / 1e6);
            answer.complete(new Answer(0, null, "empty_stream", "the stream ended without a chunk"));
        }, readers);
        return answer;
    }

    private static JsonNode readTree(String s) {
        try {
            return JSON.readTree(s);
        } catch (java.io.IOException e) {
            return JSON.createObjectNode();
        }
    }

    /** Client-side figures so far: count, p50/p90/p99 of time to first token and to the stream's end, in ms. */
    public Map<String, Object> summary() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("client_streams", streamMs.size());
        put(m, "client_ttft", ttftMs);
        put(m, "client_stream", streamMs);
        return m;
    }

    private static void put(Map<String, Object> m, String name, List<Double> values) {
        List<Double> sorted;
        synchronized (values) {
            sorted = new ArrayList<>(values);
        }
        Collections.sort(sorted);
        for (int p : new int[] {50, 90, 99}) {
            m.put(name + "_p" + p + "_ms", sorted.isEmpty() ? null
                    : Math.round(sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1)) * 10) / 10.0);
        }
    }

    @Override
    public String kind() {
        return "http-stream";
    }

    @Override
    public void close() {
        readers.shutdownNow();
        executor.shutdownNow();
    }
}
