package io.inferq.ingress.batch;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.job.outcome.Backoff;
import io.inferq.job.outcome.TerminalOutcomeWriter;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.api.JobJson;
import io.inferq.ingress.api.JobSubmissionParser;
import io.inferq.ingress.files.FileStore;
import io.inferq.ingress.files.StoredFile;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the batches this process owns ({@link BatchStore#owns}), one step at a time, on its own thread:
 * <ol>
 *   <li>{@code validating}: reads the input file once (streamed), checking every line; any bad line fails the batch with
 *       its errors (at most {@link BatchSettings#maxErrors} listed); else {@code in_progress}.</li>
 *   <li>{@code in_progress}: reads the file again and writes one job per line to {@value TopicCatalogue#REQUESTS_BATCH}
 *       (id {@code <batch>_<line>}, at most {@value #IN_FLIGHT} records unacknowledged), recording after each
 *       {@value #CHUNK} lines how far it got, so a runner taking over re-sends at most one chunk (and skips the jobs of
 *       it that the job view already knows). Progress comes from {@link BatchProgress}.</li>
 *   <li>When every line's job has ended: {@code finalizing}, output and error files, {@code completed}.</li>
 *   <li>A cancel request or the end of the completion window stops submission; the lines not yet ended are ended
 *       ({@code cancelled} / {@code expired}, through the terminal claims, so a line a worker already finished keeps its
 *       result, and one not started never runs); once every line has ended (or after {@value #END_GRACE_MS} ms), the files
 *       are written and the batch is {@code cancelled} / {@code expired}.</li>
 * </ol>
 * Every step is written to the batch topic before the next; a step repeated after a crash writes the same records
 * (deterministic job and file ids), so every {@code custom_id} appears exactly once across the output and error files.
 */
final class BatchRunner implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BatchRunner.class);
    static final int CHUNK = 1000;
    static final int IN_FLIGHT = 4096;
    static final long END_GRACE_MS = 30_000;
    /** Attempts at writing one ended request's event or result (200 ms doubling to 5 s between them). */
    static final TerminalOutcomeWriter.Policy TERMINAL_WRITES = new TerminalOutcomeWriter.Policy(new Backoff(200, 5_000), 5);
    static final Set<String> TERMINAL = Set.of("completed", "failed", "expired", "cancelled");

    private final BatchStore store;
    private final BatchProgress progress;
    private final FileStore files;
    private final JobSubmissionParser parser;
    /** Null when a line's webhook URL may be called, else why not. */
    private final java.util.function.UnaryOperator<String> webhookTargets;
    private final Producer<String, byte[]> producer;
    private final TrustedOrigin origin;
    private final TerminalClaims claims;
    private final Function<String, JobEvent> jobLookup;
    private final Clock clock;
    private final BatchSettings settings;
    private final BatchWebhooks webhooks;
    private final java.util.function.BooleanSupplier viewCaughtUp;
    private final AvroSerde<JobRequest> requestSerde = new AvroSerde<>(JobRequest.class);
    private final AvroSerde<JobEvent> eventSerde = new AvroSerde<>(JobEvent.class);
    /** Runs the terminal writer's retries and continuations (one daemon thread, created on first use). */
    private final java.util.concurrent.ScheduledExecutorService writeTimer = java.util.concurrent.Executors
            .newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "batch-runner-writes");
                t.setDaemon(true);
                return t;
            });
    /** Writes the cancelled / expired outcomes of a batch's open requests: a transient failure is retried a few times. */
    private final TerminalOutcomeWriter outcomes;
    /** Batches whose open lines this runner has already ended since it started. Runner thread only. */
    private final Set<String> endedLines = new HashSet<>();
    /** Batches this runner submitted to since it started (its first chunk of each skips jobs already written). Runner thread. */
    private final Set<String> resumed = new HashSet<>();
    private final Object wake = new Object();
    private volatile boolean running;
    private Thread thread;

    BatchRunner(BatchStore store, BatchProgress progress, FileStore files, JobSubmissionParser parser, Producer<String, byte[]> producer,
            TrustedOrigin origin, TerminalClaims claims, Function<String, JobEvent> jobLookup, Clock clock, BatchSettings settings,
            BatchWebhooks webhooks, java.util.function.BooleanSupplier viewCaughtUp,
            java.util.function.UnaryOperator<String> webhookTargets) {
        this.viewCaughtUp = viewCaughtUp;
        this.webhookTargets = webhookTargets;
        this.store = store;
        this.progress = progress;
        this.files = files;
        this.parser = parser;
        this.producer = producer;
        this.origin = origin;
        this.claims = claims;
        this.jobLookup = jobLookup;
        this.clock = clock;
        this.settings = settings;
        this.webhooks = webhooks;
        this.outcomes = new TerminalOutcomeWriter(TerminalOutcomeWriter.Transport.of(r -> TerminalOutcomeWriter.send(producer, r),
                writeTimer, (ms, task) -> writeTimer.schedule(task, ms, TimeUnit.MILLISECONDS)), TERMINAL_WRITES, null, () -> running);
    }

    void start() {
        running = true;
        thread = new Thread(this::run, "batch-runner");
        thread.setDaemon(true);
        thread.start();
    }

    /** Makes the runner look at its batches now (a batch was created or cancelled). */
    void wakeUp() {
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    private void run() {
        while (running) {
            // progress and the jobs already written come from the job view: wait until it has replayed the job events
            for (JsonObject b : viewCaughtUp.getAsBoolean() ? store.all() : List.<JsonObject>of()) {
                if (!running) {
                    return;
                }
                String id = b.getString("id");
                if (TERMINAL.contains(b.getString("status")) || !store.owns(id)) {
                    continue;
                }
                try {
                    step(store.local(id).orElse(b));
                } catch (RuntimeException e) {
                    LOG.warn("batch {}: step failed ({}); trying again", id, e.toString());
                }
            }
            synchronized (wake) {
                try {
                    wake.wait(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static JsonObject internal(JsonObject b) {
        return b.getJsonObject(BatchStore.INTERNAL);
    }

    private long nowSeconds() {
        return clock.millis() / 1000;
    }

    private void step(JsonObject b) {
        String status = b.getString("status");
        String id = b.getString("id");
        JsonObject in = internal(b);
        switch (status) {
            case "validating" -> {
                Long cancelAt = store.cancelRequestedAt(id);
                if (cancelAt != null) {
                    notifyEnded(store.write(b.copy().put("status", "cancelled").put("cancelling_at", cancelAt)
                            .put("cancelled_at", nowSeconds())));
                    return;
                }
                validate(b);
            }
            case "in_progress" -> {
                String ending = in.getString("ending");
                if (ending == null && store.cancelRequestedAt(id) != null) {
                    JsonObject next = b.copy().put("status", "cancelling").put("cancelling_at", store.cancelRequestedAt(id));
                    internal(next).put("ending", "cancelled").put("ending_since_ms", clock.millis());
                    store.write(withCounts(next));
                    return;
                }
                if (ending == null && clock.millis() >= in.getLong("expires_at_ms")) {
                    JsonObject next = b.copy();
                    internal(next).put("ending", "expired").put("ending_since_ms", clock.millis());
                    store.write(withCounts(next));
                    return;
                }
                if (ending != null) {
                    endOpenLines(b, ending);
                    return;
                }
                int total = b.getJsonObject("request_counts").getInteger("total");
                if (!in.getBoolean("submitted_all", false)) {
                    submit(b);
                    return;
                }
                BatchProgress.Snapshot p = progress.of(id);
                if (p.finished() >= total) {
                    JsonObject next = withCounts(b.copy().put("status", "finalizing").put("finalizing_at", nowSeconds()));
                    finish(store.write(next), "completed");
                    return;
                }
                int recorded = b.getJsonObject("request_counts").getInteger("completed") + b.getJsonObject("request_counts").getInteger("failed");
                if (p.finished() != recorded && clock.millis() - in.getLong("counts_at_ms", 0L) >= 1000) {
                    JsonObject next = withCounts(b.copy());
                    internal(next).put("counts_at_ms", clock.millis());
                    store.write(next);
                }
            }
            case "cancelling" -> endOpenLines(b, "cancelled");
            case "finalizing" -> finish(b, "completed");
            default -> LOG.warn("batch {} has unknown status {}", id, status);
        }
    }

    /** The snapshot with the live counts and usage. */
    private JsonObject withCounts(JsonObject b) {
        BatchProgress.Snapshot p = progress.of(b.getString("id"));
        JsonObject rc = b.getJsonObject("request_counts");
        rc.put("completed", Math.max(rc.getInteger("completed"), p.completed())).put("failed", Math.max(rc.getInteger("failed"), p.failed()));
        if (p.finished() > 0) {
            b.put("usage", BatchJson.usage(p.promptTokens(), p.completionTokens(), p.cachedTokens()));
        }
        return b;
    }

    // ---- validating -------------------------------------------------------------------------------------------

    private void validate(JsonObject b) {
        String id = b.getString("id");
        String tenant = internal(b).getString("tenant");
        Optional<StoredFile> file = files.get(tenant, b.getString("input_file_id"));
        JsonArray errors = new JsonArray();
        int[] counts = new int[3]; // valid lines, errors, last line
        AtomicReference<String> model = new AtomicReference<>();
        if (file.isEmpty()) {
            errors.add(new JsonObject().put("code", "file_not_found").put("message", "the input file no longer exists")
                    .put("param", "input_file_id").put("line", null));
        } else if (file.get().bytes() > settings.maxFileBytes()) {
            errors.add(new JsonObject().put("code", "file_too_large").put("message", "the input file has " + file.get().bytes()
                    + " bytes; at most " + settings.maxFileBytes() + " are allowed").put("param", "input_file_id").put("line", null));
        } else {
            Set<String> seen = new HashSet<>();
            String endpoint = b.getString("endpoint");
            long now = clock.millis();
            try (InputStream in = files.open(file.get())) {
                BatchInput.scan(in, parser, webhookTargets, endpoint, now, line -> {
                    counts[2] = line.number();
                    JsonObject err = null;
                    if (!line.valid()) {
                        err = line.errorJson();
                    } else if (!seen.add(line.customId())) {
                        err = new JsonObject().put("code", "duplicate_custom_id").put("message", "line " + line.number()
                                + ": custom_id '" + line.customId() + "' is used by an earlier line; each must be unique")
                                .put("param", "custom_id").put("line", line.number());
                    } else if (model.get() != null && !model.get().equals(line.submission().model())) {
                        err = new JsonObject().put("code", "mixed_models").put("message", "line " + line.number() + ": model '"
                                + line.submission().model() + "' differs from '" + model.get() + "' of the earlier lines; a batch "
                                + "uses one model").put("param", "body.model").put("line", line.number());
                    } else {
                        model.compareAndSet(null, line.submission().model());
                        counts[0]++;
                        if (counts[0] > settings.maxLines()) {
                            err = new JsonObject().put("code", "too_many_lines").put("message", "the input file has more than "
                                    + settings.maxLines() + " requests").put("param", null).put("line", line.number());
                            addError(errors, counts, err);
                            return false;
                        }
                    }
                    if (err != null) {
                        addError(errors, counts, err);
                    }
                    return true;
                });
            } catch (IOException | RuntimeException e) {
                LOG.warn("batch {}: input file unreadable: {}", id, e.toString());
                throw new IllegalStateException("input file of " + id + " unreadable: " + e.getMessage(), e);
            }
            if (counts[0] == 0 && errors.isEmpty()) {
                errors.add(new JsonObject().put("code", "empty_file").put("message", "the input file has no requests")
                        .put("param", "input_file_id").put("line", null));
            }
        }
        JsonObject next = b.copy().put("model", model.get());
        if (!errors.isEmpty() || counts[1] > 0) {
            next.put("status", "failed").put("failed_at", nowSeconds())
                    .put("errors", new JsonObject().put("object", "list").put("data", errors));
            internal(next).put("error_count", Math.max(counts[1], errors.size()));
            JsonObject written = store.write(next);
            notifyEnded(written);
            LOG.info("batch {} failed validation: {} error(s)", id, Math.max(counts[1], errors.size()));
            return;
        }
        next.put("status", "in_progress").put("in_progress_at", nowSeconds());
        next.getJsonObject("request_counts").put("total", counts[0]);
        internal(next).put("last_line", counts[2]).put("submitted_through", 0);
        store.write(next);
        LOG.info("batch {}: {} requests validated", id, counts[0]);
    }

    private void addError(JsonArray errors, int[] counts, JsonObject err) {
        counts[1]++;
        if (errors.size() < settings.maxErrors()) {
            errors.add(err);
        }
    }

    // ---- in_progress: submission ------------------------------------------------------------------------------

    private void submit(JsonObject b) {
        String id = b.getString("id");
        JsonObject in = internal(b);
        String tenant = in.getString("tenant");
        int from = in.getInteger("submitted_through", 0);
        // the first chunk this runner sends may have been sent, wholly or in part, by a runner before it (also before the
        // first checkpoint, from == 0): skip the jobs the view knows, so a finished line is not queued and run again
        boolean checkExisting = resumed.add(id);
        Optional<StoredFile> file = files.get(tenant, b.getString("input_file_id"));
        if (file.isEmpty()) {
            throw new IllegalStateException("input file of " + id + " is gone");
        }
        long now = clock.millis();
        long deadline = in.getLong("expires_at_ms");
        Semaphore inFlight = new Semaphore(IN_FLIGHT);
        AtomicReference<Exception> failure = new AtomicReference<>();
        JsonObject[] current = {b};
        int[] sinceCheckpoint = {0};
        int[] checkUntil = {checkExisting ? from + CHUNK : 0};
        try (InputStream input = files.open(file.get())) {
            BatchInput.scan(input, parser, webhookTargets, b.getString("endpoint"), now, line -> {
                if (line.number() <= from || !line.valid()) {
                    return true;
                }
                String jobId = BatchJobs.jobId(id, line.number());
                if (line.number() <= checkUntil[0] && jobLookup.apply(jobId) != null) {
                    return true; // written before the takeover
                }
                JobRequest request = BatchJobs.request(id, line.number(), line.customId(), tenant, line.submission(), now, deadline);
                sendJob(request, inFlight, failure);
                if (++sinceCheckpoint[0] >= CHUNK) {
                    sinceCheckpoint[0] = 0;
                    drain(inFlight, failure);
                    JsonObject next = current[0].copy();
                    internal(next).put("submitted_through", line.number());
                    current[0] = store.write(withCounts(next));
                    // stop at a cancel or the end of the window; the next step ends the batch
                    return running && store.cancelRequestedAt(id) == null && clock.millis() < deadline;
                }
                return running;
            });
        } catch (IOException e) {
            throw new IllegalStateException("input file of " + id + " unreadable: " + e.getMessage(), e);
        }
        drain(inFlight, failure);
        if (!running || store.cancelRequestedAt(id) != null || clock.millis() >= deadline) {
            return;
        }
        JsonObject next = current[0].copy();
        internal(next).put("submitted_through", in.getInteger("last_line")).put("submitted_all", true);
        store.write(withCounts(next));
        LOG.info("batch {}: every request submitted", id);
    }

    private void sendJob(JobRequest request, Semaphore inFlight, AtomicReference<Exception> failure) {
        try {
            inFlight.acquire(2);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        byte[] value = requestSerde.encode(request);
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(TopicCatalogue.REQUESTS_BATCH, request.getJobId(), value);
        origin.mark(record.headers(), TrustedOrigin.INGRESS, value);
        JobEvent queued = JobSnapshots.fromRequest(request, JobStatus.QUEUED, request.getSubmittedAtMs());
        producer.send(record, (md, ex) -> {
            if (ex != null) {
                failure.compareAndSet(null, ex);
            }
            inFlight.release();
        });
        producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, request.getJobId(), eventSerde.encode(queued)), (md, ex) -> {
            if (ex != null) {
                LOG.warn("queued event of {} not written ({}); the view shows the job from its next event", request.getJobId(), ex.toString());
            }
            inFlight.release();
        });
    }

    /** Waits until every record sent is acknowledged; fails if one was not written (the chunk is sent again). */
    private static void drain(Semaphore inFlight, AtomicReference<Exception> failure) {
        try {
            if (!inFlight.tryAcquire(IN_FLIGHT, 60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("requests not acknowledged within 60 s");
            }
            inFlight.release(IN_FLIGHT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a request of the batch was not written: " + failure.get(), failure.get());
        }
    }

    // ---- ending: cancel / expiry ------------------------------------------------------------------------------

    private void endOpenLines(JsonObject b, String ending) {
        String id = b.getString("id");
        JsonObject in = internal(b);
        int submittedThrough = in.getInteger("submitted_through", 0);
        if (endedLines.add(id) && submittedThrough > 0) {
            JobStatus status = "cancelled".equals(ending) ? JobStatus.CANCELLED : JobStatus.EXPIRED;
            String code = "cancelled".equals(ending) ? "batch_cancelled" : "batch_expired";
            String message = "cancelled".equals(ending) ? "the batch was cancelled before this request finished"
                    : "the batch's completion window ended before this request finished";
            List<Integer> open = new ArrayList<>();
            scanValid(b, line -> {
                if (line.number() <= submittedThrough && !progress.isDone(id, line.number())) {
                    open.add(line.number());
                }
            });
            String owner = "batch:" + id;
            long now = clock.millis();
            List<java.util.concurrent.CompletableFuture<TerminalOutcomeWriter.Written>> writes = new ArrayList<>();
            for (int i = 0; i < open.size(); i += 500) {
                Map<String, JobStatus> want = new HashMap<>();
                for (int line : open.subList(i, Math.min(open.size(), i + 500))) {
                    want.put(BatchJobs.jobId(id, line), status);
                }
                Map<String, TerminalClaims.Claim> won = claims.claimAll(want, owner);
                for (var e : won.entrySet()) {
                    if (e.getValue().status() == status && owner.equals(e.getValue().owner())) {
                        JobEvent ended = BatchJobs.ended(jobLookup.apply(e.getKey()), id, BatchJobs.lineOf(e.getKey()),
                                in.getString("tenant"), b.getString("model"), status, code, message, now);
                        writes.add(outcomes.write(ended).toCompletableFuture());
                    }
                }
            }
            awaitWritten(id, writes);
            LOG.info("batch {}: {} open request(s) ended as {}", id, open.size(), status.apiName());
        }
        int submitted = countSubmitted(b);
        BatchProgress.Snapshot p = progress.of(id);
        if (p.finished() >= submitted || clock.millis() - in.getLong("ending_since_ms", 0L) > END_GRACE_MS) {
            finish(b, ending);
        }
    }

    private int countSubmitted(JsonObject b) {
        JsonObject in = internal(b);
        if (in.getBoolean("submitted_all", false)) {
            return b.getJsonObject("request_counts").getInteger("total");
        }
        int through = in.getInteger("submitted_through", 0);
        int[] n = {0};
        if (through > 0) {
            scanValid(b, line -> {
                if (line.number() <= through) {
                    n[0]++;
                }
            });
        }
        return n[0];
    }

    /** Waits (while running) until every outcome is written or given up; logs those given up. */
    private void awaitWritten(String batchId, List<java.util.concurrent.CompletableFuture<TerminalOutcomeWriter.Written>> writes) {
        int givenUp = 0;
        for (var w : writes) {
            while (running) {
                try {
                    givenUp += w.get(1, TimeUnit.SECONDS).complete() ? 0 : 1;
                    break;
                } catch (TimeoutException e) {
                    // still trying; look again (a stop leaves the rest to the next owner of the batch)
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (ExecutionException e) {
                    givenUp++;
                    break;
                }
            }
        }
        if (givenUp > 0) {
            LOG.error("batch {}: the outcome of {} request(s) could not be written", batchId, givenUp);
        }
    }

    private interface LineVisitor {
        void visit(BatchInput.Line line);
    }

    private void scanValid(JsonObject b, LineVisitor visitor) {
        String tenant = internal(b).getString("tenant");
        StoredFile file = files.get(tenant, b.getString("input_file_id"))
                .orElseThrow(() -> new IllegalStateException("input file of " + b.getString("id") + " is gone"));
        try (InputStream input = files.open(file)) {
            BatchInput.scan(input, parser, webhookTargets, b.getString("endpoint"), clock.millis(), line -> {
                if (line.valid()) {
                    visitor.visit(line);
                }
                return true;
            });
        } catch (IOException e) {
            throw new IllegalStateException("input file of " + b.getString("id") + " unreadable: " + e.getMessage(), e);
        }
    }

    // ---- finishing: output and error files --------------------------------------------------------------------

    private void finish(JsonObject b, String target) {
        String id = b.getString("id");
        JsonObject in = internal(b);
        String tenant = in.getString("tenant");
        int submittedThrough = in.getBoolean("submitted_all", false) ? Integer.MAX_VALUE : in.getInteger("submitted_through", 0);
        long createdAt = b.getLong("created_at");
        Long outputExpiry = in.getLong("output_expires_after_seconds");
        Long expiresAt = outputExpiry != null ? createdAt + outputExpiry : nowSeconds() + settings.fileExpiry().toSeconds();
        LOG.info("batch {}: writing its output and error files ({})", id, target);
        FileStore.Upload out = files.begin(fileId(id, "output"), tenant, id + "_output.jsonl", "batch_output", expiresAt);
        FileStore.Upload err = files.begin(fileId(id, "error"), tenant, id + "_error.jsonl", "batch_output", expiresAt);
        long[] sums = new long[5]; // completed, failed, prompt, completion, cached
        String unfinishedCode = "cancelled".equals(target) ? "batch_cancelled" : "expired".equals(target) ? "batch_expired" : "result_unavailable";
        scanValid(b, line -> {
            String jobId = BatchJobs.jobId(id, line.number());
            JobEvent job = line.number() <= submittedThrough ? jobLookup.apply(jobId) : null;
            JobStatus status = job == null ? null : JobStatus.fromWire(job.getStatus());
            JsonObject entry = new JsonObject().put("id", jobId).put("custom_id", line.customId());
            if (status == JobStatus.SUCCEEDED) {
                entry.put("response", new JsonObject().put("status_code", 200).put("request_id", jobId)
                        .put("body", JobJson.toChatCompletion(job))).put("error", null);
                sums[0]++;
                if (job.getUsage() != null) {
                    sums[2] += job.getUsage().getPromptTokens();
                    sums[3] += job.getUsage().getCompletionTokens();
                    sums[4] += job.getUsage().getCachedTokens();
                }
                write(out, entry);
            } else {
                String code = unfinishedCode;
                String message = "the request did not finish before the batch ended";
                JsonObject response = null;
                boolean endedByBatch = status == JobStatus.EXPIRED && "expired".equals(target)
                        || status == JobStatus.CANCELLED && "cancelled".equals(target);
                if (endedByBatch || status == null || !status.isTerminal()) {
                    // not run, or stopped by the batch's end (its window's deadline reached the dispatcher first)
                    code = unfinishedCode;
                } else if (job.getError() != null) {
                    code = String.valueOf(job.getError().getCode());
                    message = String.valueOf(job.getError().getMessage());
                    if (status == JobStatus.FAILED) {
                        response = new JsonObject().put("status_code", 500).put("request_id", jobId).put("body", new JsonObject()
                                .put("error", new JsonObject().put("message", message).put("type", String.valueOf(job.getError().getType()))
                                        .put("param", null).put("code", code)));
                    }
                } else {
                    code = status.apiName();
                    message = "the request ended " + status.apiName();
                }
                entry.put("response", response).put("error", new JsonObject().put("code", code).put("message", message));
                sums[1]++;
                write(err, entry);
            }
        });
        String outputId = out.bytes() > 0 ? await(out.finish()).id() : null;
        String errorId = err.bytes() > 0 ? await(err.finish()).id() : null;
        long now = nowSeconds();
        JsonObject next = b.copy().put("status", target).put("output_file_id", outputId).put("error_file_id", errorId);
        switch (target) {
            case "completed" -> next.put("completed_at", now);
            case "expired" -> next.put("expired_at", now);
            default -> next.put("cancelled_at", now);
        }
        if (next.getValue("cancelling_at") == null && "cancelled".equals(target)) {
            next.put("cancelling_at", store.cancelRequestedAt(id));
        }
        next.getJsonObject("request_counts").put("completed", (int) sums[0]).put("failed", (int) sums[1]);
        next.put("usage", BatchJson.usage(sums[2], sums[3], sums[4]));
        JsonObject written = store.write(next);
        endedLines.remove(id);
        resumed.remove(id);
        notifyEnded(written);
        LOG.info("batch {} {}: {} succeeded, {} failed", id, target, sums[0], sums[1]);
    }

    private static void write(FileStore.Upload upload, JsonObject entry) {
        await(upload.write((entry.encode() + "\n").getBytes(StandardCharsets.UTF_8)));
    }

    private static <T> T await(java.util.concurrent.CompletionStage<T> stage) {
        try {
            return stage.toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("file write failed: " + e.getMessage(), e);
        }
    }

    /** Output and error files have ids fixed by the batch, so finishing again after a crash replaces, never adds, a file. */
    static String fileId(String batchId, String kind) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((batchId + "/" + kind).getBytes(StandardCharsets.UTF_8));
            return "file-" + HexFormat.of().formatHex(h, 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void notifyEnded(JsonObject batch) {
        String url = internal(batch).getString("webhook");
        if (url == null) {
            return;
        }
        try {
            webhooks.batchEnded(internal(batch).getString("tenant"), url, "batch." + batch.getString("status"), BatchJson.toApi(batch));
        } catch (RuntimeException e) {
            LOG.warn("batch {}: webhook not created: {}", batch.getString("id"), e.toString());
        }
    }

    @Override
    public void close() {
        running = false;
        wakeUp();
        if (thread != null) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        writeTimer.shutdown(); // after the runner: a write still open is redone by the next owner of the batch
    }
}
