package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.view.JobView;
import io.inferq.job.JobStatus;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.ext.web.RoutingContext;
import java.time.Clock;
import java.util.function.Function;

/**
 * Answers callers that wait for a job to end: the synchronous {@code POST /v1/chat/completions} (the chat completion, or
 * {@code 504 wait_timeout} past the wait limit), streamed answers ({@code stream: true}, server-sent chat-completion
 * chunks), and {@code GET /v1/jobs/{id}/stream}. Waiters are completed by {@link #applied} with every job event the
 * process's view applies. Handlers run on the event loop; view reads go through {@code executeBlocking}.
 */
final class JobAnswers {
    private final Vertx vertx;
    private final JobView view;
    private final Clock clock;
    private final MeterRegistry registry;
    private final Function<RoutingContext, Tenant> authenticate;
    private final JobWaiters waiters = new JobWaiters(JobWaiters.MAX_WAITERS);
    private volatile io.inferq.ingress.streaming.TokenStreams tokenStreams;
    private volatile long syncWaitMs = JobWaiters.WAIT_TIMEOUT_MS;

    /** @param authenticate the caller's tenant, or null after answering 401 */
    JobAnswers(Vertx vertx, JobView view, Clock clock, MeterRegistry registry, Function<RoutingContext, Tenant> authenticate) {
        this.vertx = vertx;
        this.view = view;
        this.clock = clock;
        this.registry = registry;
        this.authenticate = authenticate;
    }

    /** Where streamed text comes from (null: the whole text when the job ends) and how long a caller waits. */
    void options(io.inferq.ingress.streaming.TokenStreams streams, long syncWaitMillis) {
        this.tokenStreams = streams;
        this.syncWaitMs = syncWaitMillis;
    }

    JobWaiters waiters() {
        return waiters;
    }

    /** Completes the callers waiting for {@code job} and ends its token stream when it is terminal. Any thread. */
    void applied(JobEvent job) {
        waiters.complete(job);
        io.inferq.ingress.streaming.TokenStreams streams = tokenStreams;
        if (streams != null && JobStatus.fromWire(job.getStatus()).isTerminal()) {
            streams.finished(job.getJobId());
        }
    }

    /**
     * Answers a synchronous request: the chat completion when the job succeeded, an error naming the
     * outcome otherwise, or — past the wait limit ({@link JobsApi#clientOptions}) — {@code 504 wait_timeout} naming the job,
     * which goes on (its {@code Location} to poll). Never another object type: OpenAI clients read any 2xx as a
     * {@code chat.completion}.
     */
    void answerWhenFinished(RoutingContext ctx, JobEvent queued, JobWaiters.Waiting finished) {
        String jobId = queued.getJobId();
        long timer = vertx.setTimer(syncWaitMs, t -> {
            if (waiters.cancel(finished) && !ctx.response().ended()) {
                ctx.response().setStatusCode(504).putHeader("Content-Type", "application/json")
                        .putHeader("Location", "/v1/jobs/" + jobId).putHeader("inferq-job-id", jobId)
                        .end(SdkRetries.waitTimeout(jobId, syncWaitMs).encode());
            }
        });
        finished.future().onSuccess(job -> {
            vertx.cancelTimer(timer);
            answerFinished(ctx, job);
        });
    }

    void rejectTooManyWaiting(RoutingContext ctx) {
        reject(ctx, ApiError.unavailable("too_many_waiting", "too many synchronous requests are waiting; use "
                + "POST /v1/jobs and poll, or retry", 1000));
    }

    /**
     * A synchronous request repeated with its {@code Idempotency-Key}: answered as the first one is, with the job's chat
     * completion (or its error) once it has finished, waiting for it as the first caller does.
     */
    void answerExisting(RoutingContext ctx, String jobId, JobEvent job, Context context, JobSubmission sub) {
        JobEvent known = job != null ? job : JobEvent.newBuilder().setJobId(jobId).setTenant("").setModel(sub.model())
                .setStatus(JobStatus.QUEUED.toWire()).setAtMs(clock.millis()).setStateTimes(java.util.Map.of()).build();
        if (job != null && JobStatus.fromWire(job.getStatus()).isTerminal()) {
            if (sub.stream()) {
                SseFollow sse = subscribe(ctx, jobId, known, sub.includeUsage(), context);
                unsubscribe(sse);
                sse.stream().open();
                sse.stream().finish(job);
            } else {
                answerFinished(ctx, job);
            }
            return;
        }
        JobWaiters.Waiting finished = waiters.register(jobId, context);
        if (finished == null) {
            rejectTooManyWaiting(ctx);
            return;
        }
        if (sub.stream()) {
            SseFollow sse = subscribe(ctx, jobId, known, sub.includeUsage(), context);
            sse.stream().open();
            follow(ctx, jobId, sse, finished);
        } else {
            answerWhenFinished(ctx, known, finished);
        }
        // it may have finished between the read and the registration: read once more
        vertx.executeBlocking(() -> view.get(jobId), false).onSuccess(latest -> {
            if (latest != null) {
                waiters.complete(latest);
            }
        });
    }

    private void answerFinished(RoutingContext ctx, JobEvent job) {
        JobStatus status = JobStatus.fromWire(job.getStatus());
        if (status != JobStatus.SUCCEEDED) {
            // the job's one outcome: a retry would only get it again (OpenAI SDKs honour this header)
            ctx.response().putHeader(SdkRetries.SHOULD_RETRY, "false").putHeader("inferq-job-id", job.getJobId());
        }
        if (status == JobStatus.SUCCEEDED) {
            ctx.response().putHeader("Content-Type", "application/json").end(JobJson.toChatCompletion(job).encode());
            return;
        }
        String message = job.getError() == null ? "the job ended " + status.apiName() : job.getError().getMessage();
        String code = job.getError() == null ? status.apiName() : job.getError().getCode();
        ApiError err = switch (status) {
            case EXPIRED -> new ApiError(408, "invalid_request_error", code, message, null, 0);
            case CANCELLED -> ApiError.conflict(code, message);
            default -> new ApiError(502, "server_error", code, message, null, 0);
        };
        HttpErrors.send(ctx, err);
    }
    /** A streamed answer and its subscription to the job's text (null subscription: no token source configured). */
    record SseFollow(io.inferq.ingress.streaming.ChatCompletionStream stream,
            io.inferq.ingress.streaming.TokenStreams.Subscription subscription) {
    }

    SseFollow subscribe(RoutingContext ctx, String jobId, JobEvent known, boolean includeUsage, Context context) {
        long created = known.getStateTimes().getOrDefault("queued", known.getAtMs()) / 1000;
        var stream = new io.inferq.ingress.streaming.ChatCompletionStream(ctx.response(), jobId, known.getModel(), created,
                includeUsage);
        io.inferq.ingress.streaming.TokenStreams streams = tokenStreams;
        StringBuilder before = new StringBuilder();
        var subscription = streams == null ? null : streams.subscribe(jobId, context, before::append, stream::text);
        if (before.length() > 0) {
            // a late joiner: the text so far goes first, once the stream is open
            context.runOnContext(v -> stream.text(before.toString()));
        }
        return new SseFollow(stream, subscription);
    }

    void unsubscribe(SseFollow sse) {
        io.inferq.ingress.streaming.TokenStreams streams = tokenStreams;
        if (streams != null && sse.subscription() != null) {
            streams.unsubscribe(sse.subscription());
        }
    }

    /**
     * Follows a streamed job until it ends (or the wait limit passes: an error event naming the job). A caller that goes
     * away stops following; the job goes on (cancel it with {@code POST /v1/jobs/{id}/cancel}).
     */
    void follow(RoutingContext ctx, String jobId, SseFollow sse, JobWaiters.Waiting waiting) {
        long timer = vertx.setTimer(syncWaitMs, t -> {
            if (waiters.cancel(waiting)) {
                unsubscribe(sse);
                sse.stream().error("server_error", "wait_timeout", "job " + jobId + " has not finished within " + syncWaitMs
                        + " ms; it goes on: GET /v1/jobs/" + jobId + " or GET /v1/jobs/" + jobId + "/stream");
            }
        });
        ctx.response().closeHandler(v -> {
            vertx.cancelTimer(timer);
            waiters.cancel(waiting);
            unsubscribe(sse);
        });
        waiting.future().onSuccess(job -> {
            vertx.cancelTimer(timer);
            unsubscribe(sse);
            sse.stream().finish(job);
        });
    }

    /** {@code GET /v1/jobs/{id}/stream}: the job's answer as chat-completion chunks, from its text so far. */
    void streamJob(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        Context context = vertx.getOrCreateContext();
        vertx.executeBlocking(() -> view.get(id), false).onComplete(ar -> {
            if (ar.failed()) {
                reject(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            JobEvent job = ar.result();
            if (job == null || !job.getTenant().equals(tenant.id())) {
                reject(ctx, ApiError.notFound("no job '" + id + "'"));
                return;
            }
            boolean includeUsage = !"false".equals(ctx.request().getParam("include_usage"));
            if (JobStatus.fromWire(job.getStatus()).isTerminal()) {
                SseFollow sse = subscribe(ctx, id, job, includeUsage, context);
                unsubscribe(sse);
                sse.stream().open();
                sse.stream().finish(job);
                return;
            }
            JobWaiters.Waiting waiting = waiters.register(id, context);
            if (waiting == null) {
                rejectTooManyWaiting(ctx);
                return;
            }
            SseFollow sse = subscribe(ctx, id, job, includeUsage, context);
            sse.stream().open();
            follow(ctx, id, sse, waiting);
            // it may have finished between the read and the registration: read once more
            vertx.executeBlocking(() -> view.get(id), false).onSuccess(latest -> {
                if (latest != null) {
                    waiters.complete(latest);
                }
            });
        });
    }

    private void reject(RoutingContext ctx, ApiError error) {
        HttpErrors.reject(registry, ctx, error);
    }
}
