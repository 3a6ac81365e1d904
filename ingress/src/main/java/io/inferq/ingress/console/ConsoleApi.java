package io.inferq.ingress.console;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobLane;
import io.inferq.job.JobStatus;
import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.api.JobJson;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.JobView;
import io.inferq.ingress.webhooks.WebhookConsoleView;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The operator console: a page served from the jar at {@code /console/} and the read-only JSON API it polls,
 * {@code GET /v1/console/...}, which operators can script as well:
 * <ul>
 *   <li>{@code overview?since=<unix s>} — fleet, queues, admission, throughput/latency samples after {@code since};</li>
 *   <li>{@code jobs?id=|tenant=|status=|metadata=k:v|limit=|after=} and {@code jobs/{id}} (with its timeline);</li>
 *   <li>{@code webhooks?status=failed|all&limit=}; {@code kafka} (operator only); {@code batches}.</li>
 * </ul>
 * Two actions, the same as the API's and scoped like it: {@code POST /v1/console/jobs/{id}/cancel} and
 * {@code POST /v1/console/webhooks/{id}/replay}.
 *
 * <p><b>Cost.</b> The overview is built at most once per {@link #OVERVIEW_TTL_MS} whatever the number of consoles
 * (concurrent callers share one build): a few meter reads, one hop to the dispatcher's context that walks its
 * (lane, model, bucket) queues, not its jobs. Throughput samples are taken by one timer every
 * {@link #SAMPLE_PERIOD_MS} into a bounded ring. Job searches are a key lookup or one tenant-scoped page of the job
 * view (at most {@link #MAX_LIMIT}); the page does not poll them. Kafka is read through the Admin client off the event
 * loop and cached ({@link KafkaOverview}).
 *
 * <p><b>Threading.</b> Mounted by the HTTP verticle; handlers, the timer and the caches run on its event loop; job
 * view reads go through {@code executeBlocking}.
 */
public final class ConsoleApi {
    public static final long OVERVIEW_TTL_MS = 1000;
    public static final long SAMPLE_PERIOD_MS = 2000;
    public static final int SAMPLES = 300;
    static final long QUEUES_TIMEOUT_MS = 2000;
    static final int MAX_LIMIT = 100;
    private static final int LIST_OUTPUT_CHARS = 200;

    /** Cancels a job as its tenant would ({@code JobsApi#cancelAs}) and answers the request. */
    @FunctionalInterface
    public interface CancelAction {
        void cancel(RoutingContext ctx, Tenant tenant, String jobId);
    }

    private final Vertx vertx;
    private final TenantDirectory tenants;
    private final String operatorKey;
    private final List<String> tenantIds;
    private final JobView view;
    private final ConsoleSource source;
    private final MeterRegistry registry;
    private final WebhookConsoleView webhooks;
    private final KafkaOverview kafka;
    private final BatchSource batches;
    private final CancelAction cancel;
    private final Clock clock;
    private final ThroughputRecorder throughput;
    private Future<JsonObject> overview;
    private long overviewAtMs;

    /**
     * @param operatorKey the {@code http.operator-key}, or null for none
     * @param tenantIds   every tenant an operator's job search covers when it names none
     * @param webhooks    null when this process delivers no webhooks
     * @param kafka       null for no Kafka view
     */
    public ConsoleApi(Vertx vertx, TenantDirectory tenants, String operatorKey, List<String> tenantIds, JobView view,
            ConsoleSource source, MeterRegistry registry, WebhookConsoleView webhooks, KafkaOverview kafka,
            BatchSource batches, CancelAction cancel, Clock clock) {
        this.vertx = Objects.requireNonNull(vertx, "vertx");
        this.tenants = Objects.requireNonNull(tenants, "tenants");
        this.operatorKey = operatorKey == null || operatorKey.isBlank() ? null : operatorKey;
        this.tenantIds = List.copyOf(tenantIds);
        this.view = Objects.requireNonNull(view, "view");
        this.source = Objects.requireNonNull(source, "source");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.webhooks = webhooks;
        this.kafka = kafka;
        this.batches = Objects.requireNonNull(batches, "batches");
        this.cancel = Objects.requireNonNull(cancel, "cancel");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.throughput = new ThroughputRecorder(SAMPLES, clock.millis());
    }

    /** Feed with every job event this process's view applied, once the view has caught up. Any thread. */
    public void onJobApplied(JobEvent e) {
        throughput.onJobEvent(e);
    }

    public ThroughputRecorder throughput() {
        return throughput;
    }

    public void mount(Router router) {
        router.get("/console").handler(ctx -> {
            if (ctx.request().path().equals("/console")) {
                ctx.redirect("/console/");
            } else {
                ctx.next();
            }
        });
        router.route("/console/*").handler(ctx -> {
            // the page loads nothing from elsewhere and runs without internet access
            ctx.response().putHeader("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
                    .putHeader("X-Content-Type-Options", "nosniff").putHeader("Referrer-Policy", "no-referrer");
            ctx.next();
        });
        router.get("/console/*").handler(StaticHandler.create("console").setIndexPage("index.html").setCachingEnabled(true)
                .setMaxAgeSeconds(60));
        router.get("/v1/console/overview").handler(this::overview);
        router.get("/v1/console/jobs").handler(this::jobs);
        router.get("/v1/console/jobs/:id").handler(this::job);
        router.post("/v1/console/jobs/:id/cancel").handler(this::cancel);
        router.get("/v1/console/webhooks").handler(this::webhooks);
        router.post("/v1/console/webhooks/:id/replay").handler(this::replay);
        router.get("/v1/console/kafka").handler(this::kafka);
        router.get("/v1/console/batches").handler(this::batches);
        vertx.setPeriodic(SAMPLE_PERIOD_MS, id -> throughput.sample(clock.millis(), gaugesForSample()));
    }

    private ConsoleScope scope(RoutingContext ctx) {
        Optional<ConsoleScope> s = ConsoleScope.resolve(ctx.request().getHeader("Authorization"), operatorKey, tenants);
        if (s.isEmpty()) {
            HttpErrors.send(ctx, ApiError.unauthorized(ctx.request().getHeader("Authorization") == null
                    ? "missing API key: send 'Authorization: Bearer <key>' (a tenant's key or the operator key)" : "invalid API key"));
            return null;
        }
        return s.get();
    }

    private static void json(RoutingContext ctx, int status, JsonObject body) {
        ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                .putHeader("Cache-Control", "no-store").end(body.encode());
    }

    // ---- overview -------------------------------------------------------------------------------------------------

    private void overview(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        long since;
        try {
            String s = ctx.request().getParam("since");
            since = s == null ? 0 : (long) (Double.parseDouble(s) * 1000);
        } catch (NumberFormatException e) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_since", "'since' must be a Unix time in seconds", "since"));
            return;
        }
        sharedOverview().onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("console_unavailable", "overview failed: " + ar.cause().getMessage(), 1000));
                return;
            }
            json(ctx, 200, scoped(ar.result(), scope, since));
        });
    }

    /** The scope-independent overview, built at most once per TTL; callers on the event loop share it. */
    Future<JsonObject> sharedOverview() {
        long now = clock.millis();
        if (overview != null && (!overview.isComplete() || overview.succeeded() && now - overviewAtMs < OVERVIEW_TTL_MS)) {
            return overview;
        }
        overviewAtMs = now;
        Context here = vertx.getOrCreateContext();
        Promise<JsonObject> built = Promise.promise();
        source.queues().onComplete(q -> here.runOnContext(v -> {
            if (built.future().isComplete()) {
                return; // answered without the queues already (below)
            }
            try {
                built.complete(buildOverview(now, q.succeeded() ? q.result() : null,
                        q.failed() ? String.valueOf(q.cause().getMessage()) : null));
            } catch (RuntimeException e) {
                built.fail(e);
            }
        }));
        // a dispatcher busy for long must not hold every console: answer without its queues
        vertx.setTimer(QUEUES_TIMEOUT_MS, id -> {
            if (!built.future().isComplete()) {
                try {
                    built.complete(buildOverview(now, null, "the dispatcher did not answer within " + QUEUES_TIMEOUT_MS + " ms"));
                } catch (RuntimeException e) {
                    built.fail(e);
                }
            }
        });
        overview = built.future();
        return overview;
    }

    private JsonObject buildOverview(long now, ConsoleSource.QueueSnapshot queues, String queuesMissing) {
        JsonObject o = new JsonObject().put("object", "console.overview").put("generated_at", now / 1000.0);
        o.put("pools", pools());
        o.put("queues", queues == null ? new JsonObject().put("available", false).put("reason", queuesMissing)
                : queuesJson(queues, now));
        o.put("admission", admission());
        o.put("fairness", fairness());
        long[] totals = throughput.totals();
        o.put("totals", new JsonObject().put("jobs_in", totals[0]).put("jobs_out", totals[1]));
        o.put("batches", new JsonObject().put("available", batches.available()));
        return o;
    }

    private JsonObject scoped(JsonObject base, ConsoleScope scope, long sinceMs) {
        JsonObject o = base.copy();
        o.put("scope", new JsonObject().put("operator", scope.operator())
                .put("tenant", scope.tenant() == null ? null : scope.tenant().id()));
        JsonObject fair = o.getJsonObject("fairness");
        if (!scope.operator() && fair != null && fair.getJsonArray("tenants") != null) {
            JsonArray own = new JsonArray();
            fair.getJsonArray("tenants").forEach(t -> {
                if (scope.tenant().id().equals(((JsonObject) t).getString("tenant"))) {
                    own.add(t);
                }
            });
            fair.put("tenants", own);
        }
        JsonObject q = o.getJsonObject("queues");
        if (!scope.operator() && q.getJsonArray("tenants") != null) {
            JsonArray own = new JsonArray();
            q.getJsonArray("tenants").forEach(t -> {
                if (scope.tenant().id().equals(((JsonObject) t).getString("tenant"))) {
                    own.add(t);
                }
            });
            q.put("tenants", own);
        }
        JsonArray samples = new JsonArray();
        for (ThroughputRecorder.Sample s : throughput.since(sinceMs)) {
            JsonObject j = new JsonObject().put("t", s.atMs() / 1000.0).put("in", round(s.inPerSec())).put("out", round(s.outPerSec()))
                    .put("wait_p50_ms", nullIfNone(s.waitP50Ms())).put("wait_p99_ms", nullIfNone(s.waitP99Ms()))
                    .put("e2e_p50_ms", nullIfNone(s.e2eP50Ms())).put("e2e_p99_ms", nullIfNone(s.e2eP99Ms()));
            JsonObject g = new JsonObject();
            new TreeMap<>(s.extra()).forEach((k, v) -> g.put(k, round(v)));
            samples.add(j.put("gauges", g));
        }
        o.put("throughput", new JsonObject().put("interval_ms", SAMPLE_PERIOD_MS).put("capacity", throughput.capacity())
                .put("samples", samples));
        return o;
    }

    private static Long nullIfNone(long v) {
        return v < 0 ? null : v;
    }

    private static double round(double v) {
        return Double.isFinite(v) ? Math.round(v * 1000) / 1000.0 : 0;
    }

    private JsonArray pools() {
        JsonArray out = new JsonArray();
        for (ConsoleSource.PoolDescriptor p : source.pools()) {
            double inFlight = gauge("inferq.dispatcher.pool.inflight.batches", "pool", p.id());
            double free = gauge("inferq.dispatcher.pool.credits.free", "pool", p.id());
            int total = p.creditsPerInstance() * p.instances();
            JsonObject kvTokens = new JsonObject();
            double local = 0;
            double shared = 0;
            double miss = 0;
            for (Counter c : registry.find("inferq.kv.tokens").counters()) {
                String worker = c.getId().getTag("worker");
                if (worker != null && worker.endsWith("/" + p.id())) {
                    switch (String.valueOf(c.getId().getTag("tier"))) {
                        case "local" -> local += c.count();
                        case "shared" -> shared += c.count();
                        case "miss" -> miss += c.count();
                        default -> { }
                    }
                }
            }
            double looked = local + shared + miss;
            kvTokens.put("local", (long) local).put("shared", (long) shared).put("miss", (long) miss);
            JsonObject hit = new JsonObject().put("local", looked == 0 ? null : round(local / looked))
                    .put("shared", looked == 0 ? null : round(shared / looked));
            out.add(new JsonObject().put("id", p.id()).put("chip", p.chip()).put("chip_name", p.chipName()).put("model", p.model())
                    .put("instances", p.instances()).put("chips_per_instance", p.chipsPerInstance()).put("backend", p.backend())
                    .put("max_batch_tokens", p.maxBatchTokens()).put("max_concurrent_sequences", p.maxConcurrentSequences())
                    .put("credits_total", total)
                    .put("credits_in_use", Double.isNaN(free) ? null : Math.max(0, total - (long) free))
                    .put("batches_in_flight", Double.isNaN(inFlight) ? null : (long) inFlight)
                    .put("utilisation", nanToNull(gauge("inferq.dispatcher.pool.utilisation", "pool", p.id())))
                    .put("busy_slots", nanToNull(gauge("inferq.worker.busy_slots", "pool", p.id())))
                    .put("slots", nanToNull(gauge("inferq.worker.slots", "pool", p.id())))
                    .put("jobs", new JsonObject()
                            .put("succeeded", (long) count("inferq.worker.jobs", "pool", p.id(), "outcome", "succeeded"))
                            .put("failed", (long) count("inferq.worker.jobs", "pool", p.id(), "outcome", "failed"))
                            .put("handed_back", (long) count("inferq.worker.jobs", "pool", p.id(), "outcome", "handed_back")))
                    .put("engine_errors", (long) count("inferq.worker.jobs", "pool", p.id(), "outcome", "failed"))
                    .put("back_pressure", (long) count("inferq.worker.jobs", "pool", p.id(), "outcome", "handed_back"))
                    .put("kv_tokens", kvTokens).put("kv_hit_ratio", hit)
                    .put("calibrated_speed", null));
        }
        return out;
    }

    private static Double nanToNull(double v) {
        return Double.isNaN(v) ? null : round(v);
    }

    private JsonObject queuesJson(ConsoleSource.QueueSnapshot q, long now) {
        Map<String, long[]> lanes = new LinkedHashMap<>(); // lane -> {jobs, prompt tokens, oldest}
        for (JobLane l : JobLane.values()) {
            lanes.put(l.apiName(), new long[] {0, 0, Long.MAX_VALUE});
        }
        JsonArray groups = new JsonArray();
        for (ConsoleSource.QueueGroup g : q.groups()) {
            long[] acc = lanes.computeIfAbsent(g.lane(), k -> new long[] {0, 0, Long.MAX_VALUE});
            acc[0] += g.jobs();
            acc[1] += g.promptTokens();
            acc[2] = Math.min(acc[2], g.oldestEnqueuedAtMs());
            groups.add(new JsonObject().put("lane", g.lane()).put("model", g.model())
                    .put("bucket_max_tokens", g.bucketUpperTokens() == Integer.MAX_VALUE ? null : g.bucketUpperTokens())
                    .put("jobs", g.jobs()).put("prompt_tokens", g.promptTokens())
                    .put("oldest_age_ms", Math.max(0, now - g.oldestEnqueuedAtMs())));
        }
        JsonArray laneJson = new JsonArray();
        lanes.forEach((lane, acc) -> laneJson.add(new JsonObject().put("lane", lane).put("jobs", acc[0]).put("prompt_tokens", acc[1])
                .put("oldest_age_ms", acc[2] == Long.MAX_VALUE ? null : Math.max(0, now - acc[2]))));
        JsonArray tenantsJson = new JsonArray();
        q.tenantQueuedTokens().forEach((t, tokens) -> tenantsJson.add(new JsonObject().put("tenant", t).put("queued_tokens", tokens)
                .put("quota_tokens", q.tenantQuotaTokens().get(t))));
        return new JsonObject().put("available", true).put("max_queued_jobs", q.maxQueuedJobs()).put("lanes", laneJson)
                .put("groups", groups).put("tenants", tenantsJson);
    }

    /**
     * Fair sharing as the dispatcher of this process sees it: per tenant × model × lane, its weighted service so far, its
     * jobs waiting in the central queue and its virtual token counter (the backlogged tenant with the lowest is served
     * next), read from the dispatcher's meters ({@code inferq.dispatcher.tenant.*}). Rows appear once a tenant has been
     * backlogged; without a dispatcher in this process the section is unavailable.
     */
    private JsonObject fairness() {
        List<io.micrometer.core.instrument.FunctionCounter> service = new ArrayList<>(
                registry.find("inferq.dispatcher.tenant.service").functionCounters());
        if (service.isEmpty()) {
            return new JsonObject().put("available", false)
                    .put("reason", "no dispatcher of this process has queued a tenant's job yet");
        }
        service.sort(Comparator.comparing(c -> c.getId().getTag("model") + "/" + c.getId().getTag("lane") + "/"
                + c.getId().getTag("tenant")));
        JsonArray rows = new JsonArray();
        for (io.micrometer.core.instrument.FunctionCounter c : service) {
            String tenant = c.getId().getTag("tenant");
            String model = c.getId().getTag("model");
            String lane = c.getId().getTag("lane");
            Gauge backlog = registry.find("inferq.dispatcher.tenant.backlog").tag("tenant", tenant).tag("model", model)
                    .tag("lane", lane).gauge();
            Gauge counter = registry.find("inferq.dispatcher.tenant.virtual.counter").tag("tenant", tenant)
                    .tag("model", model).tag("lane", lane).gauge();
            rows.add(new JsonObject().put("tenant", tenant).put("model", model).put("lane", lane)
                    .put("service_tokens", Math.round(c.count()))
                    .put("backlog_jobs", backlog == null ? null : Math.round(backlog.value()))
                    .put("virtual_counter_tokens", counter == null ? null : Math.round(counter.value())));
        }
        return new JsonObject().put("available", true).put("tenants", rows);
    }

    private JsonObject admission() {
        JsonArray rejections = new JsonArray();
        List<Counter> ingress = new ArrayList<>(registry.find("inferq.ingress.rejections").counters());
        ingress.sort(Comparator.comparing(c -> String.valueOf(c.getId().getTag("code"))));
        for (Counter c : ingress) {
            rejections.add(new JsonObject().put("stage", "ingress").put("code", c.getId().getTag("code")).put("lane", null)
                    .put("count", (long) c.count()));
        }
        List<Counter> dispatcher = new ArrayList<>(registry.find("inferq.dispatcher.rejections").counters());
        dispatcher.sort(Comparator.comparing(c -> c.getId().getTag("code") + "/" + c.getId().getTag("lane")));
        for (Counter c : dispatcher) {
            rejections.add(new JsonObject().put("stage", "dispatcher").put("code", c.getId().getTag("code"))
                    .put("lane", c.getId().getTag("lane")).put("count", (long) c.count()));
        }
        JsonObject expired = new JsonObject();
        for (JobLane l : JobLane.values()) {
            expired.put(l.apiName(), (long) count("inferq.dispatcher.expired", "lane", l.apiName()));
        }
        return new JsonObject().put("rejections", rejections).put("expired", expired)
                .put("cancelled_while_queued", (long) count("inferq.dispatcher.cancelled"))
                .put("dead_lettered", (long) count("inferq.dispatcher.dead_lettered"))
                .put("webhooks_dead_lettered", (long) count("inferq.webhooks.deliveries.dead_lettered"));
    }

    private Map<String, Double> gaugesForSample() {
        Map<String, Double> g = new LinkedHashMap<>();
        for (JobLane l : JobLane.values()) {
            double v = gauge("inferq.dispatcher.queue.depth", "lane", l.apiName());
            if (!Double.isNaN(v)) {
                g.put("queued." + l.apiName(), v);
            }
        }
        for (ConsoleSource.PoolDescriptor p : source.pools()) {
            double v = gauge("inferq.dispatcher.pool.utilisation", "pool", p.id());
            if (!Double.isNaN(v)) {
                g.put("utilisation." + p.id(), v);
            }
        }
        return g;
    }

    private double gauge(String name, String k, String v) {
        Gauge g = registry.find(name).tag(k, v).gauge();
        return g == null ? Double.NaN : g.value();
    }

    private double count(String name, String... tags) {
        double sum = 0;
        for (Counter c : registry.find(name).tags(tags).counters()) {
            sum += c.count();
        }
        return sum;
    }

    // ---- jobs -----------------------------------------------------------------------------------------------------

    private void jobs(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        String id = blankToNull(ctx.request().getParam("id"));
        if (id != null) {
            vertx.executeBlocking(() -> view.get(id), false).onComplete(ar -> {
                if (ar.failed()) {
                    HttpErrors.send(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                    return;
                }
                JsonArray data = new JsonArray();
                if (visible(ar.result(), scope)) {
                    data.add(jobJson(ar.result(), LIST_OUTPUT_CHARS));
                }
                json(ctx, 200, new JsonObject().put("object", "list").put("data", data).put("has_more", false));
            });
            return;
        }
        JobStatus status = null;
        String statusParam = blankToNull(ctx.request().getParam("status"));
        if (statusParam != null) {
            status = JobStatus.fromApiName(statusParam);
            if (status == null) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_status", "'status' must be one of queued, dispatched, running, "
                        + "succeeded, failed, cancelled, expired", "status"));
                return;
            }
        }
        int limit = limit(ctx, 20);
        if (limit < 0) {
            return;
        }
        String tenantParam = blankToNull(ctx.request().getParam("tenant"));
        List<String> searched;
        if (!scope.operator()) {
            if (tenantParam != null && !tenantParam.equals(scope.tenant().id())) {
                json(ctx, 200, new JsonObject().put("object", "list").put("data", new JsonArray()).put("has_more", false));
                return;
            }
            searched = List.of(scope.tenant().id());
        } else {
            searched = tenantParam != null ? List.of(tenantParam) : tenantIds;
        }
        String after = blankToNull(ctx.request().getParam("after"));
        if (after != null && searched.size() != 1) {
            HttpErrors.send(ctx, ApiError.invalid("tenant_required", "'after' pages one tenant's jobs: name the tenant", "tenant"));
            return;
        }
        String metadata = blankToNull(ctx.request().getParam("metadata"));
        String[] kv = metadata == null ? null : metadata.split("[:=]", 2);
        JobStatus s = status;
        vertx.executeBlocking(() -> {
            List<JobEvent> found = new ArrayList<>();
            boolean more = false;
            for (String t : searched) {
                // a metadata filter is applied to the newest page of each tenant (at most MAX_LIMIT jobs read)
                JobView.Page page = view.list(t, s, kv == null ? limit : MAX_LIMIT, after);
                more |= page.hasMore();
                for (JobEvent e : page.jobs()) {
                    if (kv == null || (kv.length == 2 ? kv[1].equals(e.getMetadata().get(kv[0])) : e.getMetadata().containsKey(kv[0]))) {
                        found.add(e);
                    }
                }
            }
            found.sort(Comparator.comparingLong((JobEvent e) -> e.getStateTimes().getOrDefault("queued", e.getAtMs()))
                    .thenComparing(JobEvent::getJobId).reversed());
            return new JobView.Page(found.size() > limit ? found.subList(0, limit) : found, more || found.size() > limit);
        }, false).onComplete(ar -> {
            if (ar.failed() && ar.cause() instanceof JobView.UnknownCursor) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_cursor", "'after' must be the id of a listed job", "after"));
                return;
            }
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            JsonArray data = new JsonArray();
            ar.result().jobs().forEach(e -> data.add(jobJson(e, LIST_OUTPUT_CHARS)));
            json(ctx, 200, new JsonObject().put("object", "list").put("data", data).put("has_more", ar.result().hasMore())
                    .put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id")));
        });
    }

    private void job(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> view.get(id), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
            } else if (!visible(ar.result(), scope)) {
                HttpErrors.send(ctx, ApiError.notFound("no job '" + id + "'"));
            } else {
                json(ctx, 200, jobJson(ar.result(), 4096));
            }
        });
    }

    private static boolean visible(JobEvent e, ConsoleScope scope) {
        return e != null && (scope.operator() || e.getTenant().equals(scope.tenant().id()));
    }

    /** The API's job object plus what an operator needs: tenant, lane, tokens, dispatch and the timeline. */
    static JsonObject jobJson(JobEvent e, int outputChars) {
        JsonObject j = JobJson.toJson(e, outputChars);
        List<Map.Entry<String, Long>> times = new ArrayList<>(e.getStateTimes().entrySet());
        times.sort(Map.Entry.<String, Long>comparingByValue().thenComparing(Map.Entry.comparingByKey()));
        JsonArray timeline = new JsonArray();
        Long queued = e.getStateTimes().get("queued");
        for (Map.Entry<String, Long> t : times) {
            JsonObject step = new JsonObject().put("status", t.getKey()).put("at", t.getValue() / 1000.0)
                    .put("since_queued_ms", queued == null ? null : t.getValue() - queued);
            if (t.getKey().equals("dispatched")) {
                step.put("pool", e.getPoolId()).put("chip", e.getChip()).put("dispatch", e.getDispatchId());
            }
            timeline.add(step);
        }
        return j.put("tenant", e.getTenant()).put("prompt_tokens", e.getPromptTokens()).put("max_tokens", e.getMaxTokens())
                .put("source", e.getSource()).put("dispatch_id", e.getDispatchId()).put("batch_id", e.getBatchId())
                .put("custom_id", e.getCustomId()).put("timeline", timeline);
    }

    private void cancel(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        String id = ctx.pathParam("id");
        if (!scope.operator()) {
            cancel.cancel(ctx, scope.tenant(), id);
            return;
        }
        vertx.executeBlocking(() -> view.get(id), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            Optional<Tenant> owner = ar.result() == null ? Optional.empty() : tenants.byId(ar.result().getTenant());
            if (owner.isEmpty()) {
                HttpErrors.send(ctx, ApiError.notFound("no job '" + id + "'"));
                return;
            }
            cancel.cancel(ctx, owner.get(), id);
        });
    }

    // ---- webhooks, kafka, batches -----------------------------------------------------------------------------------

    private void webhooks(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        String status = ctx.request().getParam("status", "failed");
        if (!status.equals("failed") && !status.equals("all")) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_status", "'status' must be 'failed' or 'all'", "status"));
            return;
        }
        int limit = limit(ctx, 50);
        if (limit < 0) {
            return;
        }
        if (webhooks == null) {
            json(ctx, 200, new JsonObject().put("object", "list").put("data", new JsonArray()).put("total", 0).put("has_more", false));
            return;
        }
        json(ctx, 200, webhooks.list(scope.tenantFilter(), status.equals("failed"), limit));
    }

    private void replay(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        if (webhooks == null) {
            HttpErrors.send(ctx, ApiError.notFound("no webhook delivery " + ctx.pathParam("id")));
            return;
        }
        Context here = vertx.getOrCreateContext();
        webhooks.replay(scope.tenantFilter(), ctx.pathParam("id")).onComplete(ar -> here.runOnContext(v -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("replay_failed", "replay failed: " + ar.cause().getMessage(), 1000));
            } else if (ar.result().error() != null) {
                HttpErrors.send(ctx, ar.result().error());
            } else {
                json(ctx, 202, ar.result().delivery());
            }
        }));
    }

    private void kafka(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        if (!scope.operator()) {
            HttpErrors.send(ctx, new ApiError(403, "permission_error", "operator_only",
                    "the Kafka view needs the operator key (http.operator-key)", null, 0));
            return;
        }
        if (kafka == null) {
            json(ctx, 200, new JsonObject().put("available", false));
            return;
        }
        kafka.snapshot().onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("kafka_unavailable", "Kafka did not answer: " + ar.cause().getMessage(), 2000));
            } else {
                json(ctx, 200, ar.result());
            }
        });
    }

    private void batches(RoutingContext ctx) {
        ConsoleScope scope = scope(ctx);
        if (scope == null) {
            return;
        }
        if (!batches.available()) {
            json(ctx, 200, new JsonObject().put("available", false).put("message", "Batch API not available"));
            return;
        }
        int limit = limit(ctx, 20);
        if (limit < 0) {
            return;
        }
        Context here = vertx.getOrCreateContext();
        batches.list(scope.tenantFilter(), limit).onComplete(ar -> here.runOnContext(v -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("batches_unavailable", String.valueOf(ar.cause().getMessage()), 1000));
            } else {
                json(ctx, 200, ar.result().copy().put("available", true));
            }
        }));
    }

    /** @return the {@code limit} parameter, or -1 after answering 400 */
    private static int limit(RoutingContext ctx, int dflt) {
        String l = ctx.request().getParam("limit");
        if (l == null) {
            return dflt;
        }
        int v;
        try {
            v = Integer.parseInt(l);
        } catch (NumberFormatException e) {
            v = -1;
        }
        if (v < 1 || v > MAX_LIMIT) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_limit", "'limit' must be an integer from 1 to " + MAX_LIMIT, "limit"));
            return -1;
        }
        return v;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
