package io.inferq.ingress.batch;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.api.JobSubmissionParser;
import io.inferq.ingress.files.FileStore;
import io.inferq.ingress.files.StoredFile;
import io.inferq.ingress.tenants.Tenant;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.HexFormat;
import java.util.Optional;
import java.util.function.Function;
import org.apache.kafka.clients.producer.Producer;

/**
 * The OpenAI Batch API on the batch lane: {@code POST /v1/batches}, {@code GET /v1/batches/{id}},
 * {@code POST /v1/batches/{id}/cancel}, {@code GET /v1/batches?after=&limit=}. A batch is created {@code validating}
 * (its snapshot written to Kafka before the answer) and run by the ingress process that owns its partition
 * ({@link BatchRunner}); any process answers reads and cancels. Also the one object to start and stop: it owns the
 * store, the progress tracker and the runner.
 *
 * <p>Besides OpenAI's fields, a create may name {@code webhook} (an http(s) URL): the batch's terminal event is then
 * delivered there as a Standard Webhook ({@code batch.completed}, {@code batch.failed}, {@code batch.expired},
 * {@code batch.cancelled}).
 *
 * <p>Threading: handlers on the event loop; store calls through {@code executeBlocking}.
 */
public final class BatchesApi implements AutoCloseable {
    public static final String ENDPOINT = "/v1/chat/completions";
    public static final int MAX_LIST_LIMIT = 100;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Vertx vertx;
    private final FileStore files;
    private final Function<RoutingContext, Tenant> authenticate;
    private final Clock clock;
    private final BatchSettings settings;
    private final java.util.function.UnaryOperator<String> webhookTargetCheck;
    private final BatchStore store;
    private final BatchProgress progress = new BatchProgress();
    private final BatchRunner runner;

    /**
     * @param jobLookup          a job's latest snapshot from the job view (blocking)
     * @param webhookTargetCheck null when a webhook URL may be called, else why not
     * @param viewCaughtUp       whether the job view has replayed the job events (batches are run only once it has)
     */
    public BatchesApi(Vertx vertx, KafkaClientSettings kafka, Producer<String, byte[]> producer, FileStore files,
            JobSubmissionParser parser, TrustedOrigin origin, TerminalClaims claims, Function<String, JobEvent> jobLookup,
            Function<RoutingContext, Tenant> authenticate, Clock clock, BatchSettings settings,
            java.util.function.UnaryOperator<String> webhookTargetCheck, BatchWebhooks webhooks,
            java.util.function.BooleanSupplier viewCaughtUp) {
        this.vertx = vertx;
        this.files = files;
        this.authenticate = authenticate;
        this.clock = clock;
        this.settings = settings;
        this.webhookTargetCheck = webhookTargetCheck;
        this.store = new BatchStore(kafka, producer);
        this.runner = new BatchRunner(store, progress, files, parser, producer, origin, claims, jobLookup, clock, settings, webhooks,
                viewCaughtUp, webhookTargetCheck);
    }

    public void start() {
        store.start();
        runner.start();
    }

    /** @return whether existing batches are read and this process has joined the runners' group */
    public boolean isReady() {
        return store.isReady();
    }

    /** Feeds every job event this process reads (the job view's {@code onApplied}): live batch progress. Any thread. */
    public void onJobEvent(JobEvent e) {
        progress.onJobEvent(e);
    }

    /**
     * The operator console's batches page: the newest {@code limit} batches in the OpenAI list shape (live
     * {@code request_counts}), each with its {@code tenant}. Reads this process's replica without waiting (a batch another
     * process just created shows once the replica has it); bounded work, no blocking: any thread.
     *
     * @param tenant the tenant, or null for every tenant (operator)
     * @param limit  1..{@value #MAX_LIST_LIMIT}
     */
    public JsonObject consolePage(String tenant, int limit) {
        BatchStore.Page page = store.recent(tenant, Math.max(1, Math.min(limit, MAX_LIST_LIMIT)));
        JsonArray data = new JsonArray();
        page.batches().forEach(b -> data.add(view(b).put("tenant", b.getJsonObject(BatchStore.INTERNAL).getString("tenant"))));
        return new JsonObject().put("object", "list").put("data", data)
                .put("first_id", data.isEmpty() ? null : data.getJsonObject(0).getString("id"))
                .put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id"))
                .put("has_more", page.hasMore());
    }

    public void mount(Router router) {
        router.post("/v1/batches").handler(this::create);
        router.get("/v1/batches").handler(this::list);
        router.get("/v1/batches/:id").handler(this::get);
        router.post("/v1/batches/:id/cancel").handler(this::cancel);
    }

    private void create(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        JsonObject body;
        try {
            body = ctx.body().asJsonObject();
        } catch (RuntimeException e) {
            body = null;
        }
        if (body == null) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_json", "the request body must be a JSON object", null));
            return;
        }
        if (!(body.getValue("input_file_id") instanceof String inputFileId) || inputFileId.isBlank()) {
            HttpErrors.send(ctx, ApiError.invalid("missing_input_file_id", "'input_file_id' is required", "input_file_id"));
            return;
        }
        if (!ENDPOINT.equals(body.getValue("endpoint"))) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_endpoint", "'endpoint' must be \"" + ENDPOINT + "\"", "endpoint"));
            return;
        }
        if (!"24h".equals(body.getValue("completion_window"))) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_completion_window", "'completion_window' must be \"24h\"", "completion_window"));
            return;
        }
        Object md = body.getValue("metadata");
        if (md != null && !(md instanceof JsonObject mo && mo.size() <= 16 && mo.stream().allMatch(e -> e.getKey().length() <= 64
                && e.getValue() instanceof String s && s.length() <= 512))) {
            HttpErrors.send(ctx, ApiError.invalid("invalid_metadata", "'metadata' must be at most 16 pairs of string keys (at most 64 "
                    + "characters) and string values (at most 512 characters)", "metadata"));
            return;
        }
        Long outputExpiry = null;
        Object oea = body.getValue("output_expires_after");
        if (oea != null) {
            if (!(oea instanceof JsonObject o) || !"created_at".equals(o.getValue("anchor")) || !(o.getValue("seconds") instanceof Number n)
                    || n.longValue() < 3600 || n.longValue() > 30L * 24 * 3600) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_output_expires_after", "'output_expires_after' must be {\"anchor\": "
                        + "\"created_at\", \"seconds\": 3600-2592000}", "output_expires_after"));
                return;
            }
            outputExpiry = n.longValue();
        }
        String webhook = null;
        Object wh = body.getValue("webhook");
        if (wh != null) {
            String problem = wh instanceof String w ? webhookTargetCheck.apply(w) : "'webhook' must be an http or https URL";
            if (problem != null) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_webhook", problem, "webhook"));
                return;
            }
            webhook = (String) wh;
        }
        JsonObject metadata = md == null ? null : (JsonObject) md;
        Long outExp = outputExpiry;
        String url = webhook;
        vertx.executeBlocking(() -> {
            Optional<StoredFile> file = files.get(tenant.id(), inputFileId);
            if (file.isEmpty()) {
                return error(ApiError.invalid("invalid_input_file", "no file '" + inputFileId + "' (it must be one of your files)",
                        "input_file_id"));
            }
            if (!"batch".equals(file.get().purpose())) {
                return error(ApiError.invalid("invalid_input_file", "file '" + inputFileId + "' has purpose '" + file.get().purpose()
                        + "'; a batch's input must have purpose 'batch'", "input_file_id"));
            }
            if (file.get().bytes() == 0) {
                return error(ApiError.invalid("empty_file", "file '" + inputFileId + "' is empty", "input_file_id"));
            }
            int inProgress = 0;
            long lines = 0;
            for (JsonObject b : store.all()) {
                if (tenant.id().equals(b.getJsonObject(BatchStore.INTERNAL).getString("tenant"))
                        && !BatchRunner.TERMINAL.contains(b.getString("status"))) {
                    inProgress++;
                    lines += b.getJsonObject("request_counts").getInteger("total");
                }
            }
            if (inProgress >= settings.tenantMaxBatchesInProgress()) {
                return error(ApiError.tooMany("batch_limit_exceeded", "tenant '" + tenant.id() + "' has " + inProgress
                        + " unfinished batches; at most " + settings.tenantMaxBatchesInProgress() + " are allowed", 60_000));
            }
            if (lines >= settings.tenantMaxLinesInProgress()) {
                return error(ApiError.tooMany("batch_lines_limit_exceeded", "tenant '" + tenant.id() + "' has " + lines
                        + " requests in unfinished batches; at most " + settings.tenantMaxLinesInProgress() + " are allowed", 60_000));
            }
            long nowMs = clock.millis();
            long created = nowMs / 1000;
            long expiresAtMs = nowMs + settings.completionWindow().toMillis();
            byte[] rnd = new byte[12];
            RANDOM.nextBytes(rnd);
            String id = "batch_" + HexFormat.of().formatHex(rnd);
            JsonObject snapshot = new JsonObject().put("id", id).put("object", "batch").put("endpoint", ENDPOINT).put("model", null)
                    .put("errors", null).put("input_file_id", inputFileId).put("completion_window", "24h").put("status", "validating")
                    .put("output_file_id", null).put("error_file_id", null).put("created_at", created).put("in_progress_at", null)
                    .put("expires_at", (expiresAtMs + 999) / 1000).put("finalizing_at", null).put("completed_at", null)
                    .put("failed_at", null).put("expired_at", null).put("cancelling_at", null).put("cancelled_at", null)
                    .put("request_counts", new JsonObject().put("total", 0).put("completed", 0).put("failed", 0))
                    .put("metadata", metadata).put("usage", BatchJson.usage(0, 0, 0))
                    .put(BatchStore.INTERNAL, new JsonObject().put("tenant", tenant.id()).put("revision", 0)
                            .put("expires_at_ms", expiresAtMs).put("output_expires_after_seconds", outExp).put("webhook", url));
            JsonObject written = store.write(snapshot);
            runner.wakeUp();
            return new Outcome(null, written);
        }, false).onComplete(ar -> answer(ctx, ar));
    }

    private record Outcome(ApiError error, JsonObject batch) {
    }

    private static Outcome error(ApiError e) {
        return new Outcome(e, null);
    }

    private void answer(RoutingContext ctx, io.vertx.core.AsyncResult<Outcome> ar) {
        if (ar.failed()) {
            HttpErrors.send(ctx, ApiError.unavailable("batch_store_unavailable", "the batch store is unavailable ("
                    + ar.cause().getClass().getSimpleName() + "); try again", 1000));
        } else if (ar.result().error() != null) {
            HttpErrors.send(ctx, ar.result().error());
        } else {
            ctx.response().putHeader("Content-Type", "application/json").end(view(ar.result().batch()).encode());
        }
    }

    private JsonObject view(JsonObject snapshot) {
        String id = snapshot.getString("id");
        return BatchJson.toApi(snapshot, progress.of(id), store.cancelRequestedAt(id));
    }

    private void get(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> store.get(tenant.id(), id)
                .map(b -> new Outcome(null, b))
                .orElseGet(() -> error(ApiError.notFound("no batch '" + id + "'"))), false)
                .onComplete(ar -> answer(ctx, ar));
    }

    private void cancel(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> {
            Optional<JsonObject> b = store.get(tenant.id(), id);
            if (b.isEmpty()) {
                return error(ApiError.notFound("no batch '" + id + "'"));
            }
            String status = b.get().getString("status");
            if (BatchRunner.TERMINAL.contains(status) || "finalizing".equals(status)) {
                return error(ApiError.conflict("batch_not_cancellable", "batch " + id + " is already " + status));
            }
            if (store.cancelRequestedAt(id) == null) {
                store.requestCancel(id, clock.millis() / 1000);
                runner.wakeUp();
            }
            return new Outcome(null, b.get());
        }, false).onComplete(ar -> answer(ctx, ar));
    }

    private void list(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        int limit = 20;
        String l = ctx.request().getParam("limit");
        if (l != null) {
            try {
                limit = Integer.parseInt(l);
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > MAX_LIST_LIMIT) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_limit", "'limit' must be an integer between 1 and " + MAX_LIST_LIMIT, "limit"));
                return;
            }
        }
        String after = ctx.request().getParam("after");
        int lim = limit;
        vertx.executeBlocking(() -> store.list(tenant.id(), after, lim), false).onComplete(ar -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("batch_store_unavailable", "the batch store is unavailable; try again", 1000));
                return;
            }
            JsonArray data = new JsonArray();
            ar.result().batches().forEach(b -> data.add(view(b)));
            ctx.response().putHeader("Content-Type", "application/json").end(new JsonObject().put("object", "list").put("data", data)
                    .put("first_id", data.isEmpty() ? null : data.getJsonObject(0).getString("id"))
                    .put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id"))
                    .put("has_more", ar.result().hasMore()).encode());
        });
    }

    @Override
    public void close() {
        runner.close();
        store.close();
    }
}
