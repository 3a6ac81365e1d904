package io.inferq.loadtests.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * For a server reached only over HTTP: polls {@code GET /v1/jobs/{id}} for every unfinished job, round-robin,
 * at most {@code concurrency} requests at a time, and takes TTFT from the job's {@code timestamps}
 * ({@code first_token_at − queued_at}). The terminal state is seen up to one sweep late, so end-to-end
 * latency is over-estimated by up to a sweep; prefer {@link ResultFollower} when Kafka is reachable.
 * One thread of its own.
 */
public final class PollTracker implements Tracker {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> TERMINAL = Set.of("succeeded", "failed", "cancelled", "expired");
    private final String base;
    private final String apiKey;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Set<JobOutcome> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong finished = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    public PollTracker(String baseUrl, String apiKey) {
        this.base = baseUrl.replaceAll("/+$", "");
        this.apiKey = apiKey;
        thread = new Thread(this::loop, "load-poll");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running) {
            List<JobOutcome> batch = new ArrayList<>(open);
            for (JobOutcome o : batch) {
                if (!running) {
                    return;
                }
                poll(o);
            }
            if (batch.isEmpty()) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private void poll(JobOutcome o) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v1/jobs/" + o.jobId)).timeout(Duration.ofSeconds(10));
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return;
            }
            JsonNode j = JSON.readTree(r.body());
            String status = j.path("status").asText();
            if (!TERMINAL.contains(status)) {
                return;
            }
            // epoch milliseconds where the server gives them (timestamps themselves are integer Unix seconds)
            JsonNode ts = j.has("timestamps_ms") ? j.path("timestamps_ms") : j.path("timestamps");
            double scale = j.has("timestamps_ms") ? 0.001 : 1;
            o.submittedAtMs = millis(ts.path("queued_at"), scale);
            o.startedAtMs = millis(ts.path("running_at"), scale);
            o.firstTokenAtMs = millis(ts.path("first_token_at"), scale);
            o.finishedAtMs = millis(ts.path(status + "_at"), scale);
            o.pool = j.path("pool").asText(null);
            JsonNode usage = j.path("result").path("usage");
            o.cachedTokens = usage.path("prompt_tokens_details").path("cached_tokens").asInt(0);
            o.serverPromptTokens = usage.path("prompt_tokens").asInt(0);
            JsonNode error = j.path("error");
            o.errorCode = error.path("code").asText(null);
            o.errorMessage = error.path("message").asText(null);
            o.seenNanos = System.nanoTime();
            o.status = status;
            if (open.remove(o)) {
                finished.incrementAndGet();
            }
        } catch (java.io.IOException e) {
            // retried on the next sweep
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    private static long millis(JsonNode seconds, double secondsPerUnit) {
        return seconds.isNumber() ? Math.round(seconds.asDouble() * secondsPerUnit * 1000) : 0;
    }

    @Override
    public void expect(JobOutcome o) {
        open.add(o);
    }

    @Override
    public long finished() {
        return finished.get();
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
