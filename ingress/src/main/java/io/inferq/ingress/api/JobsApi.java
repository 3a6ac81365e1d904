package io.inferq.ingress.api;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.job.JobLane;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.tenants.SubmitRateLimiter;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.JobView;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The async job API: {@code POST /v1/jobs}, {@code GET /v1/jobs/{id}}, {@code GET /v1/jobs},
 * {@code POST /v1/jobs/{id}/cancel}; and the synchronous convenience {@code POST /v1/chat/completions},
 * which queues the same job and waits for it (up to {@link JobWaiters#WAIT_TIMEOUT_MS}).
 *
 * <p><b>Durability.</b> A submit answers {@code 202} only after the request record, then its {@code queued} event,
 * were written with {@code acks=all}. If the request record fails, nothing was written: {@code 503} with
 * {@code Retry-After}, or {@code 413} when the record is larger than the request topic accepts. If only the event
 * fails, the job is queued all the same (it answers {@code 202}; the view shows it from its next event).
 *
 * <p><b>Queued-jobs limit.</b> A submit without {@code Idempotency-Key} checks the tenant's limit against an
 * {@link io.inferq.ingress.tenants.ActiveJobEstimate} (the shared count at most
 * {@value #ACTIVE_COUNT_REFRESH_MS} ms old plus this process's accepts that count cannot include yet), so it makes
 * no blocking call;
 * a submit with a key, or when the estimate is stale, reads the shared state first.
 *
 * <p><b>Parts.</b> This class wires the routes and submits jobs; callers that wait for a job are answered by
 * {@link JobAnswers}, queries by {@link JobQueries}, cancels by {@link JobCancellation}.
 *
 * <p><b>Cancel.</b> A cancel claims the job's terminal state ({@link TerminalClaims}) and takes the claim for its own
 * write (an atomic hand-over, so of concurrent cancels exactly one writes and answers {@code 200}) before it writes the
 * {@code cancelled} event and result, then marks the claim written; so a repeated cancel answers {@code 409} even
 * before the status view has caught up, and writes nothing twice. If the write fails the claim stands (the job
 * never runs), the call answers {@code 503}, and the next cancel writes the event again.
 *
 * <p><b>Threading.</b> Handlers run on the event loop; every Hazelcast call goes through
 * {@code executeBlocking}; every Kafka send goes through a {@link RecordSender} (a send may block on metadata), whose
 * outcome comes back on the request's context.
 */
public final class JobsApi {
    private static final Logger LOG = LoggerFactory.getLogger(JobsApi.class);
    public static final int MAX_LIST_LIMIT = 100;
    /** How old the shared active-job count used by a submit may be before it is read again (off the request path). */
    public static final long ACTIVE_COUNT_REFRESH_MS = 100;
    /** Past this age (the store unreachable), a submit reads the count itself, and fails with 503 if it cannot. */
    public static final long ACTIVE_COUNT_MAX_AGE_MS = 2000;

    private final Vertx vertx;
    private final TenantDirectory tenants;
    private final SubmitRateLimiter rateLimiter;
    private final JobSubmissionParser parser;
    private final JobView view;
    private final TerminalClaims claims;
    private final RecordSender sender;
    private final Clock clock;
    private final AvroSerde<JobRequest> requestSerde = new AvroSerde<>(JobRequest.class);
    private final AvroSerde<JobEvent> eventSerde = new AvroSerde<>(JobEvent.class);
    private final MeterRegistry registry;
    private final java.util.function.UnaryOperator<String> webhookTargetCheck;
    private final io.inferq.broker.origin.TrustedOrigin origin;
    /** The seams: callers waiting for a job (synchronous and streamed answers), queries, and cancellation. */
    private final JobAnswers answers;
    private final JobWaiters waiters;
    private final JobQueries queries;
    private final JobCancellation cancellation;
    private final io.inferq.ingress.tenants.ActiveJobEstimate activeJobs;
    private final java.util.function.BooleanSupplier viewCaughtUp;

    /**
     * @param webhookTargetCheck returns null when a webhook URL may be called, else why not (SSRF rules);
     *                           must not block (no DNS): it runs on the event loop
     * @param viewCaughtUp       whether this process's job view has replayed {@code inferq.job-events} up to where it was
     *                           at start; until then every job call answers {@code 503 view_loading} (an idempotency
     *                           key or a job the view has not reached yet would otherwise look unknown). Must not block.
     */
    public JobsApi(Vertx vertx, TenantDirectory tenants, SubmitRateLimiter rateLimiter, JobSubmissionParser parser,
            JobView view, TerminalClaims claims, Producer<String, byte[]> producer, Clock clock, MeterRegistry registry,
            java.util.function.UnaryOperator<String> webhookTargetCheck, io.inferq.broker.origin.TrustedOrigin origin,
            java.util.function.BooleanSupplier viewCaughtUp) {
        this.viewCaughtUp = viewCaughtUp;
        this.webhookTargetCheck = webhookTargetCheck;
        this.origin = origin;
        this.vertx = vertx;
        this.tenants = tenants;
        this.rateLimiter = rateLimiter;
        this.parser = parser;
        this.view = view;
        this.claims = claims;
        this.sender = new RecordSender(producer, registry);
        this.clock = clock;
        this.registry = registry;
        this.activeJobs = new io.inferq.ingress.tenants.ActiveJobEstimate(clock, ACTIVE_COUNT_REFRESH_MS,
                ACTIVE_COUNT_MAX_AGE_MS);
        this.answers = new JobAnswers(vertx, view, clock, registry, this::authenticate);
        this.waiters = answers.waiters();
        this.queries = new JobQueries(vertx, view, registry, this::authenticate);
        this.cancellation = new JobCancellation(vertx, view, claims, sender, clock, registry);
    }

    /**
     * Settings for OpenAI clients: where streamed text comes from (null: a stream gets the whole text when the job ends),
     * and how long a synchronous {@code /v1/chat/completions} waits before it answers {@code 504}. Call before
     * {@link #mount}.
     */
    public JobsApi clientOptions(io.inferq.ingress.streaming.TokenStreams streams, long syncWaitMillis) {
        if (syncWaitMillis < 1) {
            throw new IllegalArgumentException("the synchronous wait limit must be at least 1 ms, was " + syncWaitMillis);
        }
        answers.options(streams, syncWaitMillis);
        return this;
    }

    public void mount(Router router) {
        router.route("/v1/jobs").handler(this::whenViewCaughtUp);
        router.route("/v1/jobs/*").handler(this::whenViewCaughtUp);
        router.route("/v1/chat/completions").handler(this::whenViewCaughtUp);
        router.post("/v1/jobs").handler(ctx -> submit(ctx, false));
        router.post("/v1/chat/completions").handler(ctx -> submit(ctx, true));
        router.get("/v1/jobs").handler(queries::list);
        router.get("/v1/jobs/:id").handler(queries::get);
        router.get("/v1/jobs/:id/stream").handler(answers::streamJob);
        router.post("/v1/jobs/:id/cancel").handler(this::cancel);
    }

    private void whenViewCaughtUp(RoutingContext ctx) {
        if (viewCaughtUp.getAsBoolean()) {
            ctx.next();
        } else {
            reject(ctx, ApiError.unavailable("view_loading", "this process is still rebuilding its job view from "
                    + TopicCatalogue.JOB_EVENTS + " after a start; try again shortly", 1000));
        }
    }

    /** @return the caller's tenant, or null after answering 401 */
    public Tenant authenticate(RoutingContext ctx) {
        var t = tenants.authenticate(ctx.request().getHeader("Authorization"));
        if (t.isEmpty()) {
            HttpErrors.send(ctx, ApiError.unauthorized(ctx.request().getHeader("Authorization") == null
                    ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key"));
            return null;
        }
        return t.get();
    }

    /**
     * Keeps the queued-jobs estimate exact for this process's own accepts: call with every job event just before this
     * process's view writes it ({@link io.inferq.ingress.view.JobEventsMaterializer#onApplying}). Any thread.
     */
    public void onJobApplying(JobEvent job) {
        if (JobStatus.fromWire(job.getStatus()) == JobStatus.QUEUED) {
            activeJobs.applying(job.getTenant(), job.getJobId());
        }
    }

    /**
     * Keeps the queued-jobs estimate exact (see {@link #onJobApplying}) and answers waiting synchronous
     * {@code /v1/chat/completions} callers: call with every job event once this process's view holds it
     * ({@link io.inferq.ingress.view.JobEventsMaterializer#onApplied}), not only those whose write this process won:
     * with several ingress processes, another one may have applied the terminal event first. Any thread.
     */
    public void onJobApplied(JobEvent job) {
        if (JobStatus.fromWire(job.getStatus()) == JobStatus.QUEUED) {
            activeJobs.applied(job.getTenant(), job.getJobId());
        }
        answers.applied(job);
    }

    private void submit(RoutingContext ctx, boolean waitForResult) {
        Tenant tenant = authenticate(ctx);
        if (tenant == null) {
            return;
        }
        long wait = rateLimiter.tryAcquire(tenant);
        if (wait > 0) {
            reject(ctx, ApiError.tooMany("rate_limit_exceeded", "tenant '" + tenant.id() + "' is over its limit of "
                    + tenant.requestsPerSecond() + " requests per second", wait));
            return;
        }
        var body = ctx.body().buffer();
        if (body == null || body.length() == 0) {
            reject(ctx, ApiError.invalid("invalid_json", "the request body is empty; send a chat-completions JSON object", null));
            return;
        }
        if (body.length() > tenant.maxRequestBytes()) {
            reject(ctx, new ApiError(413, "invalid_request_error", "request_too_large", "the request body has " + body.length()
                    + " bytes; tenant '" + tenant.id() + "' may send at most " + tenant.maxRequestBytes(), null, 0));
            return;
        }
        long now = clock.millis();
        JobSubmission sub;
        try {
            sub = parser.parse(body.getBytes(), ctx.request().getHeader("Cancel-After"), now);
        } catch (io.inferq.job.request.RequestRejected e) {
            reject(ctx, ApiError.of(e.error()));
            return;
        }
        if (sub.webhookUrl() != null) {
            String refused = webhookTargetCheck.apply(sub.webhookUrl());
            if (refused != null) {
                reject(ctx, ApiError.invalid("invalid_webhook", refused, "webhook"));
                return;
            }
        }
        String idemKey = ctx.request().getHeader("Idempotency-Key");
        if (idemKey != null && (idemKey.isBlank() || idemKey.length() > 255)) {
            reject(ctx, ApiError.invalid("invalid_idempotency_key", "Idempotency-Key must be 1-255 characters", "Idempotency-Key"));
            return;
        }
        Integer sdkRetry = null;
        if (idemKey == null) {
            // an OpenAI SDK retrying: answer its retry as its first attempt (see SdkRetries)
            sdkRetry = SdkRetries.attempt(ctx.request().headers());
            if (sdkRetry != null) {
                idemKey = SdkRetries.implicitKey(sub.requestHash());
            }
        }
        boolean freshSdkRequest = sdkRetry != null && sdkRetry == 0;
        String jobId = "job_" + UUID.randomUUID().toString().replace("-", "");
        Context context = vertx.getOrCreateContext();
        refreshActiveCount(tenant);
        long estimate = idemKey == null ? activeJobs.estimate(tenant.id()) : -1;
        if (estimate >= tenant.maxQueuedJobs() && activeJobs.uncertain(tenant.id())) {
            estimate = -1; // the last read overlapped the view writing this process's jobs: read again before refusing
        }
        if (estimate >= 0) {
            // the common case: no blocking read on the request's path (see ActiveJobEstimate for the precision)
            if (estimate >= tenant.maxQueuedJobs()) {
                reject(ctx, queueLimit(tenant, estimate));
            } else {
                queue(ctx, tenant, sub, null, jobId, now, waitForResult, context);
            }
            return;
        }
        String key = idemKey;
        vertx.executeBlocking(() -> admit(tenant, key, jobId, sub, freshSdkRequest), false).onComplete(ar -> {
            if (ar.failed()) {
                LOG.error("admission failed for tenant {}", tenant.id(), ar.cause());
                reject(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            Admitted a = ar.result();
            if (a.error != null) {
                reject(ctx, a.error);
                return;
            }
            if (a.existing != null && waitForResult) {
                answers.answerExisting(ctx, a.existing.jobId, a.existing.job, context, sub);
                return;
            }
            if (a.existing != null) {
                JsonObject job = a.existing.job != null ? JobJson.toJson(a.existing.job, Integer.MAX_VALUE)
                        : new JsonObject().put("id", a.existing.jobId).put("object", "job").put("status", "queued");
                ctx.response().setStatusCode(200).putHeader("Content-Type", "application/json").end(job.encode());
                return;
            }
            queue(ctx, tenant, sub, key, jobId, now, waitForResult, context);
        });
    }

    /** Reads the tenant's shared active-job count off the event loop when the estimate asks for it. */
    private void refreshActiveCount(Tenant tenant) {
        if (!activeJobs.claimRefresh(tenant.id())) {
            return;
        }
        io.inferq.ingress.tenants.ActiveJobEstimate.ReadStart readAt = activeJobs.readStart();
        vertx.executeBlocking(() -> view.activeJobs(tenant.id()), false).onComplete(ar -> {
            if (ar.succeeded()) {
                activeJobs.refreshed(tenant.id(), ar.result(), readAt);
            } else {
                activeJobs.refreshFailed(tenant.id());
                LOG.warn("active-job count of tenant {} not read: {}", tenant.id(), ar.cause().toString());
            }
        });
    }

    private static ApiError queueLimit(Tenant tenant, long active) {
        return ApiError.tooMany("queue_limit_exceeded", "tenant '" + tenant.id() + "' has " + active
                + " jobs not yet finished; the limit is " + tenant.maxQueuedJobs(), 5000);
    }

    /** Writes the admitted job durably and answers: 202 (or, synchronous, the result); 503 if not durable. */
    private void queue(RoutingContext ctx, Tenant tenant, JobSubmission sub, String idemKey, String jobId, long now,
            boolean waitForResult, Context context) {
        JobRequest request = toRequest(jobId, tenant, sub, idemKey, now);
        JobEvent queued = JobSnapshots.fromRequest(request, JobStatus.QUEUED, now);
        JobWaiters.Waiting finished = null;
        if (waitForResult) {
            finished = waiters.register(jobId, context);
            if (finished == null) {
                answers.rejectTooManyWaiting(ctx);
                return;
            }
        }
        JobWaiters.Waiting waiting = finished;
        JobAnswers.SseFollow sse = waiting != null && sub.stream() ? answers.subscribe(ctx, jobId, queued, sub.includeUsage(), context)
                : null;
        activeJobs.accepted(tenant.id(), jobId);
        enqueue(request, queued).onComplete(w -> context.runOnContext(v -> {
            if (w.succeeded()) {
                registry.counter("inferq.ingress.jobs.accepted", "tenant", tenant.id(), "lane", sub.lane().apiName()).increment();
                if (sse != null) {
                    sse.stream().open();
                    answers.follow(ctx, jobId, sse, waiting);
                } else if (waiting != null) {
                    answers.answerWhenFinished(ctx, queued, waiting);
                } else {
                    ctx.response().setStatusCode(202).putHeader("Content-Type", "application/json")
                            .putHeader("Location", "/v1/jobs/" + jobId)
                            .end(JobJson.toJson(queued, Integer.MAX_VALUE).encode());
                }
            } else {
                activeJobs.withdrawn(tenant.id(), jobId);
                if (waiting != null) {
                    waiters.cancel(waiting);
                }
                if (sse != null) {
                    answers.unsubscribe(sse);
                }
                LOG.warn("could not queue job {}: {}", jobId, w.cause().toString());
                if (idemKey != null) {
                    vertx.executeBlocking(() -> {
                        view.release(tenant.id(), idemKey, jobId);
                        return null;
                    }, false);
                }
                if (w.cause() instanceof org.apache.kafka.common.errors.RecordTooLargeException) {
                    // permanent for this request: the request topic's record limit is below it
                    reject(ctx, new ApiError(413, "invalid_request_error", "request_too_large", "the job's request record is "
                            + "larger than the request topic accepts (" + w.cause().getMessage() + "); nothing was accepted; "
                            + "send a shorter prompt", null, 0));
                    return;
                }
                reject(ctx, ApiError.unavailable("queue_unavailable", "the job could not be queued durably ("
                        + w.cause().getClass().getSimpleName() + "); nothing was accepted, try again", 1000));
            }
        }));
    }


    private record Existing(String jobId, JobEvent job) {
    }

    private record Admitted(ApiError error, Existing existing) {
    }

    private Admitted admit(Tenant tenant, String idemKey, String jobId, JobSubmission sub, boolean freshSdkRequest) {
        io.inferq.ingress.tenants.ActiveJobEstimate.ReadStart readAt = activeJobs.readStart();
        activeJobs.refreshed(tenant.id(), view.activeJobs(tenant.id()), readAt);
        long active = activeJobs.estimate(tenant.id()); // with this process's accepts the read cannot include yet
        if (idemKey != null) {
            JobView.IdempotencyRecord prev = view.reserve(tenant.id(), idemKey, jobId, sub.requestHash());
            if (prev != null && freshSdkRequest) {
                // an SDK's first attempt is a new request even when its body was sent before: the key now names this job
                view.release(tenant.id(), idemKey, prev.jobId());
                prev = view.reserve(tenant.id(), idemKey, jobId, sub.requestHash());
                if (prev != null && prev.requestHash().equals(sub.requestHash())) {
                    prev = null; // a concurrent identical first attempt holds it: this one is a job of its own all the same
                }
            }
            if (prev != null) {
                if (!prev.requestHash().equals(sub.requestHash())) {
                    return new Admitted(ApiError.conflict("idempotency_key_reused", "Idempotency-Key '" + idemKey
                            + "' was already used with a different request body (job " + prev.jobId() + ")"), null);
                }
                return new Admitted(null, new Existing(prev.jobId(), view.get(prev.jobId())));
            }
        }
        if (active >= tenant.maxQueuedJobs()) {
            if (idemKey != null) {
                view.release(tenant.id(), idemKey, jobId);
            }
            return new Admitted(queueLimit(tenant, active), null);
        }
        return new Admitted(null, null);
    }

    /**
     * Writes the request record, then (once Kafka acknowledged it) the job's {@code queued} event. The request record is
     * what makes the job run, so its acknowledgement decides the answer: if it fails nothing was written; if only the
     * event fails, the job is queued all the same and the view learns of it from its next event.
     */
    private Future<Void> enqueue(JobRequest request, JobEvent queued) {
        String topic = request.getLane() == JobLane.BATCH.toWire() ? TopicCatalogue.REQUESTS_BATCH : TopicCatalogue.REQUESTS;
        ProducerRecord<String, byte[]> record;
        ProducerRecord<String, byte[]> event;
        try {
            byte[] value = requestSerde.encode(request);
            record = new ProducerRecord<>(topic, request.getJobId(), value);
            // signed, so the dispatcher knows this job is already accepted (and has its queued event)
            origin.mark(record.headers(), io.inferq.broker.origin.TrustedOrigin.INGRESS, value);
            event = new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, queued.getJobId(), eventSerde.encode(queued));
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        Context context = vertx.getOrCreateContext();
        // both sends from the sender's threads (never the event loop, never the producer's I/O thread)
        return sender.send(record, context).compose(md -> sender.send(event, context).transform(ar -> {
            if (ar.failed()) {
                eventNotWritten(queued, ar.cause());
            }
            return Future.<Void>succeededFuture();
        }));
    }

    private static void eventNotWritten(JobEvent queued, Throwable e) {
        LOG.warn("job {} is queued, but its queued event was not written ({}); the job view shows it from its next event",
                queued.getJobId(), e.toString());
    }

    private JobRequest toRequest(String jobId, Tenant tenant, JobSubmission sub, String idemKey, long now) {
        List<ChatMessage> msgs = new ArrayList<>(sub.messages().size());
        sub.messages().forEach(m -> msgs.add(new ChatMessage(m.role(), m.content())));
        return JobRequest.newBuilder()
                .setJobId(jobId).setTenant(tenant.id()).setModel(sub.model()).setMessages(msgs)
                .setMaxTokens(sub.maxTokens()).setTemperature(sub.temperature()).setLane(sub.lane().toWire())
                .setPromptTokens(sub.promptTokens()).setSubmittedAtMs(now).setDeadlineAtMs(sub.deadlineAtMs())
                .setMetadata(new java.util.HashMap<>(sub.metadata())).setWebhookUrl(sub.webhookUrl())
                .setWebhookEvents(new ArrayList<>(new java.util.TreeSet<>(sub.webhookEvents())))
                .setIdempotencyKey(idemKey).setRequestHash(sub.requestHash()).setSource("http")
                .setOptionsJson(sub.optionsJson()).setStreamTokens(sub.stream())
                .setMessageExtrasJson(MessageExtras.encode(sub.messages()))
                .build();
    }

    private void cancel(RoutingContext ctx) {
        Tenant tenant = authenticate(ctx);
        if (tenant == null) {
            return;
        }
        cancelAs(ctx, tenant, ctx.pathParam("id"));
    }

    /**
     * Cancels job {@code id} of {@code tenant} exactly as {@code POST /v1/jobs/{id}/cancel} does and answers {@code ctx}
     * (the operator console calls it with the job's own tenant). Event loop.
     */
    public void cancelAs(RoutingContext ctx, Tenant tenant, String id) {
        cancellation.cancelAs(ctx, tenant, id);
    }

    private void reject(RoutingContext ctx, ApiError error) {
        HttpErrors.reject(registry, ctx, error);
    }
}
