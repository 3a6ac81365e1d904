package io.inferq.workers.backend;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs sequences on OpenAI-compatible engines (vLLM and its vendor forks, SGLang, MindIE): one
 * {@code POST {baseUrl}/v1/chat/completions} per sequence, all sequences of a batch concurrently, over a
 * pooled Vert.x {@link WebClient}. Non-streaming: the first-token time reported is the time the whole
 * answer arrived.
 *
 * <h2>Failure behaviour</h2>
 * <ul>
 *   <li>{@code 200} → {@link SequenceOutcome.Completed} with the engine's text, finish reason and usage
 *       (cached tokens from {@code usage.prompt_tokens_details.cached_tokens}, 0 when absent).</li>
 *   <li>{@code 429}, {@code 503} → {@link InferenceError.BackPressure} with the {@code Retry-After} delay
 *       (default {@value ChatCompletionExchange#DEFAULT_RETRY_AFTER_MS} ms); the instance's credits are
 *       halved and it takes no retries until the delay has passed.</li>
 *   <li>other {@code 5xx}, {@code 408}, timeouts, connection errors, unreadable answers →
 *       {@link InferenceError.Transient}.</li>
 *   <li>other {@code 4xx} → {@link InferenceError.Fatal} with the engine's error type, code and message.</li>
 *   <li>A retriable failure is retried at once on another instance of the pool that has not been tried
 *       for this sequence and is not backing off, at most {@code maxRetries} times; when none is left the
 *       last failure is returned, and the caller may retry on another pool or later.</li>
 * </ul>
 *
 * <h2>Threading</h2>
 * {@link #run} blocks the calling slot thread until every sequence has an outcome and refuses to run on
 * an event-loop thread; HTTP callbacks run on the Vert.x event loop and only complete futures and update
 * atomic instance state. Safe for concurrent {@link #run} calls. If the slot thread is interrupted,
 * {@link #run} throws {@link InterruptedException} at once; requests already sent run to completion and
 * their answers are dropped. {@link #close} closes the HTTP client (not the {@link Vertx} instance).
 */
public final class OpenAiHttpBackend implements InferenceBackend {
    private final OpenAiHttpSettings settings;
    private final Clock clock;
    private final WebClient client;
    private final List<EngineInstance> instances;
    private final long waitLimitMs;

    /**
     * @param vertx              the Vert.x instance whose event loops run the HTTP client
     * @param settings           base URL per instance, engine model name, timeouts, retry limit
     * @param creditsPerInstance most sequences in flight per instance when no back-pressure is seen (the
     *                           pool's {@code maxConcurrentSequences}); at least 1
     * @param clock              time for Retry-After and timestamps
     */
    public OpenAiHttpBackend(Vertx vertx, OpenAiHttpSettings settings, int creditsPerInstance, Clock clock) {
        Objects.requireNonNull(vertx, "vertx");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.clock = Objects.requireNonNull(clock, "clock");
        if (creditsPerInstance < 1) {
            throw new IllegalArgumentException("creditsPerInstance must be at least 1, was " + creditsPerInstance);
        }
        List<EngineInstance> list = new ArrayList<>();
        for (int i = 0; i < settings.baseUrls().size(); i++) {
            list.add(new EngineInstance(i, settings.baseUrls().get(i).toString(), creditsPerInstance));
        }
        this.instances = List.copyOf(list);
        JsonObject clientOptions = new JsonObject()
                .put("userAgent", "inferq-chip-workers")
                .put("connectTimeout", Math.toIntExact(settings.connectTimeout().toMillis()))
                .put("keepAlive", true)
                .put("keepAliveTimeout", Math.toIntExact(Math.max(1, settings.idleTimeout().toSeconds())));
        JsonObject poolOptions = new JsonObject()
                .put("http1MaxSize", settings.maxConnectionsPerInstance())
                .put("maxWaitQueueSize", settings.maxConnectionsPerInstance() * 16);
        this.client = PooledWebClient.create(vertx, clientOptions, poolOptions);
        // every attempt ends by its own timeouts; this bound only guards against a lost callback
        this.waitLimitMs = (settings.connectTimeout().toMillis() + settings.requestTimeout().toMillis())
                * (settings.maxRetries() + 1L) + 5_000;
    }

    @Override
    public List<SequenceOutcome> run(BatchWork batch) throws InterruptedException {
        return run(batch, TokenSink.NONE);
    }

    /**
     * A sequence with {@link SequenceWork#streamTokens()} is sent with {@code stream: true} (and
     * {@code stream_options.include_usage}); the engine's content deltas go to {@code sink} as they arrive, and the
     * outcome is assembled from the chunks. A streamed sequence is retried on another instance only while none of its
     * text has been relayed.
     */
    @Override
    public List<SequenceOutcome> run(BatchWork batch, TokenSink sink) throws InterruptedException {
        if (Context.isOnEventLoopThread()) {
            throw new IllegalStateException("OpenAiHttpBackend.run blocks: call it on a worker slot thread");
        }
        int first = Math.floorMod(batch.instance(), instances.size());
        List<CompletableFuture<SequenceOutcome>> pending = new ArrayList<>();
        for (SequenceWork sequence : batch.sequences()) {
            CompletableFuture<SequenceOutcome> outcome = new CompletableFuture<>();
            Set<Integer> tried = new HashSet<>();
            tried.add(first);
            attempt(sequence, settings.sendPriority() ? batch.priority() : null, instances.get(first), tried, 0, outcome,
                    sequence.streamTokens() ? sink : null);
            pending.add(outcome);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitLimitMs);
        List<SequenceOutcome> outcomes = new ArrayList<>(pending.size());
        for (int i = 0; i < pending.size(); i++) {
            String jobId = batch.sequences().get(i).jobId();
            try {
                outcomes.add(pending.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (TimeoutException e) {
                outcomes.add(new SequenceOutcome.Failed(jobId, new InferenceError.Transient("engine_timeout",
                        "no outcome from the engine within " + waitLimitMs + " ms")));
            } catch (ExecutionException e) {
                throw new IllegalStateException("bug: sequence future of job " + jobId + " failed", e.getCause());
            }
        }
        return List.copyOf(outcomes);
    }

    private void attempt(SequenceWork sequence, Integer priority, EngineInstance instance, Set<Integer> tried, int retries,
            CompletableFuture<SequenceOutcome> outcome, TokenSink sink) {
        instance.started();
        var request = client.postAbs(instance.chatCompletionsUrl)
                .putHeader("X-Request-Id", sequence.jobId())
                .connectTimeout(settings.connectTimeout().toMillis())
                .timeout(settings.requestTimeout().toMillis());
        JsonObject body = ChatCompletionExchange.requestBody(sequence, settings.engineModel(), priority);
        boolean[] relayed = {false};
        EngineStream stream = sink == null ? null : new EngineStream(sequence.jobId(), (job, piece) -> {
            relayed[0] = true;
            sink.tokens(job, piece);
        }, clock);
        if (stream != null) {
            body.put("stream", true).put("stream_options", new JsonObject().put("include_usage", true));
        }
        var sent = stream == null ? request.sendJsonObject(body)
                : request.as(io.vertx.ext.web.codec.BodyCodec.pipe(stream)).sendJsonObject(body);
        sent.onComplete(result -> {
                    instance.finished();
                    long now = clock.millis();
                    SequenceOutcome answer;
                    try {
                        if (result.failed()) {
                            answer = new SequenceOutcome.Failed(sequence.jobId(),
                                    ChatCompletionExchange.fromFailure(result.cause(), instance.chatCompletionsUrl));
                        } else if (stream == null) {
                            answer = ChatCompletionExchange.fromResponse(sequence, instance.chatCompletionsUrl,
                                    result.result().statusCode(), result.result().getHeader("Retry-After"),
                                    result.result().bodyAsString(), now);
                        } else if (result.result().statusCode() == 200 && stream.completed(sequence, now) != null) {
                            answer = stream.completed(sequence, now);
                        } else {
                            answer = ChatCompletionExchange.fromResponse(sequence, instance.chatCompletionsUrl,
                                    result.result().statusCode(), result.result().getHeader("Retry-After"), stream.raw(), now);
                        }
                    } catch (RuntimeException bug) {
                        outcome.completeExceptionally(bug);
                        return;
                    }
                    if (answer instanceof SequenceOutcome.Completed) {
                        instance.succeeded();
                    } else if (answer instanceof SequenceOutcome.Failed failed) {
                        if (failed.error() instanceof InferenceError.BackPressure pushBack) {
                            instance.pushedBack(now, pushBack.retryAfterMs());
                        }
                        if (failed.error().retriable() && retries < settings.maxRetries() && !relayed[0]) {
                            EngineInstance next = retryTarget(tried, now);
                            if (next != null) {
                                tried.add(next.index);
                                attempt(sequence, priority, next, tried, retries + 1, outcome, sink);
                                return;
                            }
                        }
                    }
                    outcome.complete(answer);
                });
    }

    /** @return the untried instance with the most available credits that is not backing off, or null */
    private EngineInstance retryTarget(Set<Integer> tried, long now) {
        EngineInstance best = null;
        for (EngineInstance candidate : instances) {
            if (tried.contains(candidate.index) || candidate.backingOff(now)) {
                continue;
            }
            if (best == null || candidate.availableCredits(now) > best.availableCredits(now)) {
                best = candidate;
            }
        }
        return best;
    }

    /** @return sequences instance {@code instance} can take now: 0 while it backs off after a 429/503 */
    public int availableCredits(int instance) {
        return instances.get(instance).availableCredits(clock.millis());
    }

    /** @return the sum of {@link #availableCredits(int)} over all instances */
    public int availableCredits() {
        long now = clock.millis();
        return instances.stream().mapToInt(i -> i.availableCredits(now)).sum();
    }

    /** @return the current credit limit of an instance (halved by each 429/503, +1 per success) */
    public int creditLimit(int instance) {
        return instances.get(instance).creditLimit();
    }

    /** @return epoch ms until which the instance asked to be left alone, or a past time when it did not */
    public long backPressureUntilMs(int instance) {
        return instances.get(instance).backPressureUntilMs();
    }

    /** @return whether an instance is backing off after a 429/503 */
    public boolean isBackingOff(int instance) {
        return instances.get(instance).backingOff(clock.millis());
    }

    public int instances() {
        return instances.size();
    }

    @Override
    public String describe() {
        return "openai-http " + settings.engineModel() + " at " + settings.baseUrls();
    }

    @Override
    public void close() {
        client.close();
    }
}
