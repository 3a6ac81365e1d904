package io.inferq.loadtests.bench;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.loadtests.report.Stats;
import io.inferq.server.InferqServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code bench-batch}, side by side in one run:
 * <ol>
 *   <li>On an instant fleet (simulated pools at {@code --time-scale}, 10<sup>6</sup> by default): the same
 *       {@code --lines} requests (50,000) sent one by one to {@code POST /v1/jobs} (at most 256 in flight) and as one
 *       batch (uploaded, then timed from create to {@code completed}). Prints jobs/s, lines/s, their ratio (goal ≥ 1: a
 *       batch is never slower than individual submits) and the peak heap of the process in each phase.</li>
 *   <li>On the simulated mixed fleet at {@code --ttft-time-scale}: interactive jobs at {@code --interactive-rate} per
 *       second for {@code --interactive-seconds}, first alone, then while a {@code --ttft-batch-lines} batch (20,000)
 *       runs on the same model. Prints p50/p99 time to first token of both, the p99 ratio (goal ≤ 1.2) and the lines/s
 *       the batch made meanwhile (what protecting the interactive work cost it). Side by side, each on a fresh server:
 *       the configured headroom with the batch-lane yield at {@code --batch-yield-delay-ms}, the same
 *       with the batch lane unpaced ({@code --skip-yield-off} leaves it out), and headroom 0 unpaced
 *       ({@code --skip-headroom-off}). Each variant runs in a JVM of its own ({@link VariantJvm}; {@code --same-jvm}: one
 *       after the other in this one, after a server that only warms up) and warms up beside a small batch first.</li>
 * </ol>
 * Everything runs in this JVM (broker, Hazelcast, inferq, client), so heap figures include all of it.
 */
public final class BatchBenchmark {
    private static final String MODEL = "deepseek-v2-lite";
    /** The summary keys a variant's own JVM measured (the rest are its settings). */
    private static final java.util.regex.Pattern MEASURED_KEY = java.util.regex.Pattern.compile(
            "ttft_|ratio_|cores_|jobs_met_gc|batch_lines_per_s_while");
    /** The yield target {@code bench-batch} measures when none is given (README "Batch-lane yield"). */
    static final long DEFAULT_YIELD_DELAY_MS = 20;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private BatchBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        int lines = f.intValue("lines", 50_000);
        int warmup = f.intValue("warmup", 2000);
        double timeScale = f.positive("time-scale", 1e6);
        int promptTokens = f.intValue("prompt-tokens", 64);
        int ttftBatchLines = f.intValue("ttft-batch-lines", 20_000);
        double ttftTimeScale = f.positive("ttft-time-scale", 20);
        double rate = f.positive("interactive-rate", 4);
        double seconds = f.positive("interactive-seconds", 30);
        boolean skipTtft = f.bool("skip-ttft");
        boolean skipThroughput = f.bool("skip-throughput");
        int headroom = f.intValue("headroom-credits", 1); // compared with 0 in the same run
        int headroomIdle = f.intValue("headroom-idle-instances",
                io.inferq.dispatcher.DispatchConfig.DEFAULT_HEADROOM_IDLE_INSTANCES);
        boolean skipHeadroomOff = f.bool("skip-headroom-off");
        // the batch-lane yield's delay target (README "Batch-lane yield"); compared with an unpaced batch lane in the same run
        long yieldMs = f.intValue("batch-yield-delay-ms", (int) DEFAULT_YIELD_DELAY_MS);
        boolean skipYieldOff = f.bool("skip-yield-off");
        // each variant of part 2 in a JVM of its own (a fresh JIT and heap for each: the fair comparison), unless given
        boolean sameJvm = f.bool("same-jvm");
        boolean skipCpuControl = f.bool("skip-cpu-control");
        Path dir = LoadCommand.outDir(f, "bench-batch");
        f.rejectUnknown();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("command", "bench-batch");
        m.put("lines", lines);
        m.put("headroom_credits", headroom);
        m.put("headroom_idle_instances", headroomIdle);
        m.put("batch_yield_delay_ms", yieldMs);
        try {
            String prompt = PromptText.build(promptTokens, List.of(), 0, 1);
            Path input = writeInput(dir.resolve("input.jsonl"), lines, prompt, 1);
            Path warmInput = writeInput(dir.resolve("warmup.jsonl"), Math.max(1, warmup), prompt, 1);
            if (!skipThroughput) {
                out.printf(Locale.ROOT, "part 1: %d requests on an instant fleet (time-scale %.0g)%n", lines, timeScale);
                try (InferqServer server = EmbeddedInferq.start(EmbeddedInferq.Options.defaults().timeScale(timeScale)
                        .extra(t -> ((com.fasterxml.jackson.databind.node.ObjectNode) t.get("batches")).put("max-lines", Math.max(lines, 50_000))))) {
                    String url = "http://127.0.0.1:" + server.httpPort();
                    Replayer.Settings s = new Replayer.Settings(1.0, MODEL, 256, 3600, 600, 10, 500);
                    if (warmup > 0) {
                        individual(url, server, s, warmup, promptTokens, out);
                        runBatch(url, warmInput, out);
                    }
                    HeapPeak heap1 = HeapPeak.start();
                    Replayer.Result r = individual(url, server, s, lines, promptTokens, out);
                    long jobsHeap = heap1.stop();
                    long finished = r.outcomes().stream().filter(JobOutcome::finished).count();
                    double jobRate = finished / r.wallSeconds();
                    out.printf(Locale.ROOT, "individual POST /v1/jobs: %d of %d finished in %.1f s: %.0f jobs/s; peak heap %d MiB%n",
                            finished, lines, r.wallSeconds(), jobRate, jobsHeap >> 20);
                    System.gc();
                    HeapPeak heap2 = HeapPeak.start();
                    BatchRun b = runBatch(url, input, out);
                    long batchHeap = heap2.stop();
                    double lineRate = b.lines / b.seconds;
                    out.printf(Locale.ROOT, "batch: %d lines %s in %.1f s from create (validated after %.1f s): %.0f lines/s; "
                            + "upload %.1f s; peak heap %d MiB%n", b.lines, b.status, b.seconds, b.validatedSeconds,
                            lineRate, b.uploadSeconds, batchHeap >> 20);
                    out.printf(Locale.ROOT, "RATIO batch lines/s ÷ individual jobs/s = %.2f   (goal ≥ 1)%n", lineRate / jobRate);
                    m.put("individual_jobs_per_s", ReplayReport.round(jobRate));
                    m.put("individual_peak_heap_mib", jobsHeap >> 20);
                    m.put("batch_lines_per_s", ReplayReport.round(lineRate));
                    m.put("batch_status", b.status);
                    m.put("batch_seconds", ReplayReport.round(b.seconds));
                    m.put("batch_validated_s", ReplayReport.round(b.validatedSeconds));
                    m.put("batch_peak_heap_mib", batchHeap >> 20);
                    m.put("ratio_batch_vs_individual", ReplayReport.round(lineRate / jobRate));
                }
            }
            if (!skipTtft) {
                Path ttftInput = writeInput(dir.resolve("ttft-batch.jsonl"), ttftBatchLines, prompt, 16);
                Path warmTtftInput = writeInput(dir.resolve("ttft-warmup-batch.jsonl"), Math.min(ttftBatchLines, WARMUP_BATCH_LINES), prompt, 16);
                out.printf(Locale.ROOT, "part 2: interactive TTFT on the simulated mixed fleet (time-scale %.0f), %.1f jobs/s for %.0f s, "
                        + "without and with a %d-line batch%n", ttftTimeScale, rate, seconds, ttftBatchLines);
                // the configured headroom and yield, then (side by side) the same headroom with an unpaced batch lane, then
                // the fully work-conserving dispatcher: headroom 0, unpaced
                List<long[]> variants = new java.util.ArrayList<>();
                List<String> keys = new java.util.ArrayList<>();
                variants.add(new long[] {headroom, headroomIdle, yieldMs});
                keys.add("");
                if (!skipYieldOff && yieldMs != 0) {
                    variants.add(new long[] {headroom, headroomIdle, 0});
                    keys.add("_yield_off");
                }
                if (!skipHeadroomOff && (headroom != 0 || yieldMs != 0)) {
                    variants.add(new long[] {0, 0, 0});
                    keys.add("_headroom_off");
                }
                if (variants.size() > 1 && !sameJvm) {
                    for (int vi = 0; vi < variants.size(); vi++) {
                        long[] v = variants.get(vi);
                        List<String> args = new java.util.ArrayList<>(List.of("bench-batch", "--skip-throughput", "--skip-yield-off",
                                "--skip-headroom-off", "--headroom-credits", Long.toString(v[0]), "--headroom-idle-instances",
                                Long.toString(v[1]), "--batch-yield-delay-ms", Long.toString(v[2]), "--prompt-tokens",
                                Integer.toString(promptTokens), "--ttft-batch-lines", Integer.toString(ttftBatchLines),
                                "--ttft-time-scale", Double.toString(ttftTimeScale), "--interactive-rate", Double.toString(rate),
                                "--interactive-seconds", Double.toString(seconds), "--out", dir.resolve("variant-" + vi).toString()));
                        if (skipCpuControl) {
                            args.add("--skip-cpu-control");
                        }
                        Map<String, Object> child = VariantJvm.run(args, out);
                        String key = keys.get(vi);
                        child.forEach((k, val) -> {
                            if (MEASURED_KEY.matcher(k).lookingAt()) {
                                m.put(k + key, val);
                            }
                        });
                    }
                    out.println("side by side (each variant in a JVM of its own):");
                    for (int vi = 0; vi < variants.size(); vi++) {
                        String k = keys.get(vi);
                        out.printf(Locale.ROOT, "  %-70s p50 with ÷ without %.2f, p99 %.2f; the batch %.0f lines/s%n",
                                variantTag(variants.get(vi)), number(m, "ttft_with_batch_p50_ms" + k) / number(m, "ttft_alone_p50_ms" + k),
                                number(m, "ratio_ttft_p99" + k), number(m, "batch_lines_per_s_while_measured" + k));
                    }
                    if (keys.contains("_yield_off")) {
                        out.printf(Locale.ROOT, "RATIO the batch's lines/s with the yield ÷ unpaced = %.2f   (what the yield cost the batch; "
                                + "its p99 ratio %.2f against %.2f unpaced)%n", number(m, "batch_lines_per_s_while_measured")
                                / number(m, "batch_lines_per_s_while_measured_yield_off"), number(m, "ratio_ttft_p99"),
                                number(m, "ratio_ttft_p99_yield_off"));
                    }
                    Bench.writeJson(dir.resolve("summary.json"), m);
                    out.println("summary: " + dir.resolve("summary.json").toAbsolutePath());
                    return 0;
                }
                // vi = -1: a server of the last variant's settings that only warms up and stops, so the first measured
                // variant does not run in a colder JVM (JIT, heap sizing) than the later ones
                for (int vi = variants.size() > 1 ? -1 : 0; vi < variants.size(); vi++) {
                    boolean warmOnly = vi < 0;
                    long[] v = variants.get(warmOnly ? variants.size() - 1 : vi);
                    String tag = (warmOnly ? "JVM warm-up, not measured: " : "") + variantTag(v);
                    String key = warmOnly ? "" : keys.get(vi);
                    out.printf(Locale.ROOT, "-- %s%n", tag);
                    try (InferqServer server = EmbeddedInferq.start(EmbeddedInferq.Options.defaults().timeScale(ttftTimeScale)
                            .extra(t -> ((com.fasterxml.jackson.databind.node.ObjectNode) t.get("dispatcher"))
                                    .put("headroom-credits", v[0]).put("headroom-idle-instances", v[1])
                                    .put("batch-yield-delay-ms", v[2])))) {
                        String url = "http://127.0.0.1:" + server.httpPort();
                        Replayer.Settings s = new Replayer.Settings(1.0, MODEL, 256, 3600, 600, 10, 500);
                        // a warm-up at the same rate first, beside a small batch (JIT of both paths, connections, the groups'
                        // first fetches), not counted: the first variant of the run would otherwise measure a colder JVM
                        // than the later ones, which share it
                        String warmBatch = create(url, upload(url, warmTtftInput));
                        paced(url, server, s, rate, Math.min(seconds, WARMUP_SECONDS), promptTokens, out);
                        post(url, "/v1/batches/" + warmBatch + "/cancel");
                        awaitEnded(url, warmBatch);
                        if (warmOnly) {
                            continue;
                        }
                        CpuControl.Sampler cpu = new CpuControl.Sampler();
                        GcPauses gc = new GcPauses();
                        long aloneFrom = System.currentTimeMillis();
                        Replayer.Result aloneRun = paced(url, server, s, rate, seconds, promptTokens, out);
                        long aloneTo = System.currentTimeMillis();
                        double aloneCores = cpu.coresBetween(aloneFrom, aloneTo);
                        double[] alone = ttft(aloneRun);
                        String fileId = upload(url, ttftInput);
                        String batchId = create(url, fileId);
                        awaitRunning(url, batchId);
                        long withFrom = System.currentTimeMillis();
                        int doneAtStart = get(url, batchId).getJsonObject("request_counts").getInteger("completed");
                        Replayer.Result withBatchRun = paced(url, server, s, rate, seconds, promptTokens, out);
                        long withTo = System.currentTimeMillis();
                        JsonObject during = get(url, batchId);
                        // only the jobs queued while the batch still ran: a batch that finishes within the window
                        // would otherwise count jobs that met no batch at all (finalizing_at has 1 s resolution)
                        Long finalizingAt = during.getLong("finalizing_at");
                        long batchEndMs = finalizingAt == null ? Long.MAX_VALUE : finalizingAt * 1000;
                        List<JobOutcome> withBatchJobs = measured(withBatchRun).stream()
                                .filter(o -> o.submittedAtMs > 0 && o.submittedAtMs < batchEndMs).toList();
                        double[] withBatch = withBatchJobs.stream().mapToDouble(JobOutcome::ttftSeconds).toArray();
                        if (withBatch.length < 20) {
                            out.printf(Locale.ROOT, "WARNING only %d interactive jobs were queued while the batch ran: raise "
                                    + "--ttft-batch-lines; counting every job of the window%n", withBatch.length);
                            withBatch = ttft(withBatchRun);
                            withBatchJobs = measured(withBatchRun);
                        }
                        post(url, "/v1/batches/" + batchId + "/cancel");
                        double batchCores = cpu.coresBetween(withFrom, Math.min(withTo, batchEndMs));
                        double p99Ratio = Stats.pct(withBatch, 0.99) / Stats.pct(alone, 0.99);
                        out.printf(Locale.ROOT, "interactive TTFT alone:      p50 %.0f ms, p99 %.0f ms (%d jobs)%n", Stats.pct(alone, 0.5) * 1000,
                                Stats.pct(alone, 0.99) * 1000, alone.length);
                        out.printf(Locale.ROOT, "interactive TTFT with batch: p50 %.0f ms, p99 %.0f ms (%d jobs queued while it ran; it had %s of %d lines done)%n",
                                Stats.pct(withBatch, 0.5) * 1000, Stats.pct(withBatch, 0.99) * 1000, withBatch.length,
                                during.getJsonObject("request_counts").getInteger("completed"), ttftBatchLines);
                        double batchRate = (during.getJsonObject("request_counts").getInteger("completed") - doneAtStart)
                                / Math.max(1e-3, (Math.min(withTo, Math.max(withFrom, batchEndMs)) - withFrom) / 1000.0);
                        out.printf(Locale.ROOT, "  the batch meanwhile: %.0f lines/s (what the interactive latency cost it: compare "
                                + "the variants)%n", batchRate);
                        m.put("batch_lines_per_s_while_measured" + key, ReplayReport.round(batchRate));
                        List<Replayer.Result> staged = new java.util.ArrayList<>(List.of(aloneRun, withBatchRun));
                        List<String> stageLabels = new java.util.ArrayList<>(List.of("alone", "with batch"));
                        out.printf(Locale.ROOT, "RATIO interactive p99 TTFT with ÷ without batch = %.2f   (goal ≤ 1.2; %s)%n", p99Ratio, tag);
                        double[] interval = Stats.bootstrapRatio(alone, withBatch, 0.99, 0.9, 2000, 17);
                        out.printf(Locale.ROOT, "  90%% bootstrap interval of that ratio: %.2f–%.2f (%d and %d jobs resampled; "
                                + "a p99 of ~100 jobs is one or two of them)%n", interval[0], interval[1], alone.length, withBatch.length);
                        m.put("ratio_ttft_p99_interval90" + key, List.of(ReplayReport.round(interval[0]), ReplayReport.round(interval[1])));
                        out.printf(Locale.ROOT, "  process CPU: %.2f cores alone, %.2f cores while the batch ran (%d cores on the host)%n",
                                aloneCores, batchCores, Runtime.getRuntime().availableProcessors());
                        gcControl(out, gc, aloneFrom, aloneTo, measured(aloneRun), withFrom, Math.min(withTo, batchEndMs),
                                withBatchJobs, m, key);
                        gc.close();
                        if (!skipCpuControl) {
                            awaitEnded(url, batchId);
                            double extra = Math.max(0, batchCores - aloneCores);
                            Replayer.Result burnRun;
                            CpuControl.Burn burn = new CpuControl.Burn(extra);
                            try {
                                burnRun = paced(url, server, s, rate, seconds, promptTokens, out);
                            } finally {
                                burn.close();
                            }
                            double[] burned = ttft(burnRun);
                            double burnRatio = Stats.pct(burned, 0.99) / Stats.pct(alone, 0.99);
                            out.printf(Locale.ROOT, "interactive TTFT with a CPU burn of %.2f cores and no batch: p50 %.0f ms, p99 %.0f ms (%d jobs)%n",
                                    extra, Stats.pct(burned, 0.5) * 1000, Stats.pct(burned, 0.99) * 1000, burned.length);
                            staged.add(burnRun);
                            stageLabels.add("CPU burn");
                            out.printf(Locale.ROOT, "RATIO interactive p99 TTFT with the batch's extra CPU burnt, no batch ÷ without = %.2f   "
                                    + "(control: the host's cores alone; with the batch %.2f)%n", burnRatio, p99Ratio);
                            m.put("ttft_cpu_burn_p50_ms" + key, ReplayReport.round(Stats.pct(burned, 0.5) * 1000));
                            m.put("ttft_cpu_burn_p99_ms" + key, ReplayReport.round(Stats.pct(burned, 0.99) * 1000));
                            m.put("ratio_ttft_p99_cpu_burn" + key, ReplayReport.round(burnRatio));
                        }
                        cpu.close();
                        Map<String, Long> dispatched = DispatchTimes.read(server.kafkaBootstrapServers(), staged.stream()
                                .flatMap(r -> r.outcomes().stream()).map(o -> o.jobId).filter(java.util.Objects::nonNull)
                                .collect(java.util.stream.Collectors.toSet()));
                        for (int i = 0; i < staged.size(); i++) {
                            stages(out, stageLabels.get(i), staged.get(i), dispatched);
                        }
                        m.put("cores_alone" + key, ReplayReport.round(aloneCores));
                        m.put("cores_with_batch" + key, ReplayReport.round(batchCores));
                        m.put("ttft_alone_p50_ms" + key, ReplayReport.round(Stats.pct(alone, 0.5) * 1000));
                        m.put("ttft_alone_p99_ms" + key, ReplayReport.round(Stats.pct(alone, 0.99) * 1000));
                        m.put("ttft_with_batch_p50_ms" + key, ReplayReport.round(Stats.pct(withBatch, 0.5) * 1000));
                        m.put("ttft_with_batch_p99_ms" + key, ReplayReport.round(Stats.pct(withBatch, 0.99) * 1000));
                        m.put("ratio_ttft_p99" + key, ReplayReport.round(p99Ratio));
                    }
                }
            }
            Bench.writeJson(dir.resolve("summary.json"), m);
            out.println("summary: " + dir.resolve("summary.json").toAbsolutePath());
            return 0;
        } catch (IOException e) {
            throw new IllegalStateException("batch benchmark failed: " + e, e);
        }
    }

    /** @param v headroom credits, idle instances, yield target ms */
    private static String variantTag(long[] v) {
        return (v[0] == 0 ? "headroom 0 (work-conserving)" : "headroom " + v[0] + " credit(s)/pool, " + v[1] + " idle instance(s)")
                + (v[2] == 0 ? ", batch lane unpaced" : ", batch-lane yield at " + v[2] + " ms");
    }

    private static double number(Map<String, Object> m, String key) {
        return m.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static Path writeInput(Path file, int n, String prompt, int maxTokens) throws IOException {
        Files.createDirectories(file.getParent());
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (int i = 0; i < n; i++) {
                w.write(new JsonObject().put("custom_id", "req-" + i).put("method", "POST").put("url", "/v1/chat/completions")
                        .put("body", new JsonObject().put("model", MODEL).put("max_tokens", maxTokens).put("messages",
                                new JsonArray().add(new JsonObject().put("role", "user").put("content", prompt + " #" + i)))).encode());
                w.write('\n');
            }
        }
        return file;
    }

    private static Replayer.Result individual(String url, InferqServer server, Replayer.Settings s, int n, int promptTokens, PrintStream out) {
        try (ResultFollower tracker = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null)) {
            return Replayer.run(PipelineOverheadBenchmark.burstPlan(n, promptTokens), s, target, tracker, url, out);
        }
    }

    private static Replayer.Result paced(String url, InferqServer server, Replayer.Settings s, double rate, double seconds, int promptTokens,
            PrintStream out) {
        ReplayPlan plan = PipelineOverheadBenchmark.pacedPlan(rate, seconds, promptTokens);
        try (ResultFollower tracker = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null)) {
            return Replayer.run(plan, s, target, tracker, url, out);
        }
    }

    /** Seconds of warm-up traffic before the measured "alone" phase. */
    static final double WARMUP_SECONDS = 10;
    /** Lines of the batch that runs beside part 2's warm-up (cancelled after it if unfinished). */
    static final int WARMUP_BATCH_LINES = 4_000;

    /**
     * Where an interactive job's time to first token went (server timestamps, p50 / p99 ms): queued → a worker started
     * its batch (the dispatcher's queue, the pool topic and the slot), and started → first token (the engine: waiting in
     * the instance's running batch, then its prefill).
     */
    private static void stages(PrintStream out, String label, Replayer.Result r, Map<String, Long> dispatchedAt) {
        List<JobOutcome> done = r.outcomes().stream().filter(o -> o.finished() && o.startedAtMs > 0 && o.submittedAtMs > 0).toList();
        double[] queue = done.stream().mapToDouble(o -> (o.startedAtMs - o.submittedAtMs) / 1000.0).toArray();
        double[] engine = done.stream().filter(o -> o.firstTokenAtMs > 0)
                .mapToDouble(o -> (o.firstTokenAtMs - o.startedAtMs) / 1000.0).toArray();
        if (queue.length == 0 || engine.length == 0) {
            return;
        }
        out.printf(Locale.ROOT, "  %-10s queued → started p50 %.0f / p99 %.0f ms; started → first token p50 %.0f / p99 %.0f ms%n",
                label, Stats.pct(queue, 0.5) * 1000, Stats.pct(queue, 0.99) * 1000, Stats.pct(engine, 0.5) * 1000,
                Stats.pct(engine, 0.99) * 1000);
        List<JobOutcome> split = done.stream().filter(o -> dispatchedAt.containsKey(o.jobId)).toList();
        if (!split.isEmpty()) {
            double[] decide = split.stream().mapToDouble(o -> (dispatchedAt.get(o.jobId) - o.submittedAtMs) / 1000.0).toArray();
            double[] deliver = split.stream().mapToDouble(o -> (o.startedAtMs - dispatchedAt.get(o.jobId)) / 1000.0).toArray();
            out.printf(Locale.ROOT, "  %-10s   of which queued → dispatched p50 %.0f / p99 %.0f ms (ingress, intake, decision); "
                    + "dispatched → started p50 %.0f / p99 %.0f ms (pool topic, worker slot; %d jobs)%n", label,
                    Stats.pct(decide, 0.5) * 1000, Stats.pct(decide, 0.99) * 1000, Stats.pct(deliver, 0.5) * 1000,
                    Stats.pct(deliver, 0.99) * 1000, split.size());
        }
        long t0 = r.outcomes().stream().filter(o -> o.submittedAtMs > 0).mapToLong(o -> o.submittedAtMs).min().orElse(0);
        done.stream().sorted(java.util.Comparator.comparingLong((JobOutcome o) -> o.startedAtMs - o.submittedAtMs).reversed()).limit(3)
                .forEach(o -> out.printf(Locale.ROOT, "    slowest: pool %s, queued at +%d ms, %sstarted after %d ms, first token after %d ms%n",
                        o.pool, o.submittedAtMs - t0, dispatchedAt.containsKey(o.jobId)
                                ? "dispatched after " + (dispatchedAt.get(o.jobId) - o.submittedAtMs) + " ms, " : "",
                        o.startedAtMs - o.submittedAtMs, o.firstTokenAtMs - o.submittedAtMs));
    }

    /**
     * The GC control: the process's stop-the-world pauses in each window, how many jobs' queued → first token spans met
     * one, and the p99 of those that met none, alone and with the batch. Every thread stops in a pause, so a job that met
     * one waited for the collector, whatever its lane; with about a hundred jobs a p99 is one or two jobs, so a pause or
     * two decides it.
     */
    private static void gcControl(PrintStream out, GcPauses gc, long aloneFrom, long aloneTo, List<JobOutcome> alone, long withFrom,
            long withTo, List<JobOutcome> withBatch, Map<String, Object> m, String key) {
        out.printf(Locale.ROOT, "  GC pauses (every thread of the process stops): alone %s; with batch %s%n",
                gc.describe(aloneFrom, aloneTo), gc.describe(withFrom, withTo));
        double[] aloneClear = alone.stream().filter(o -> !gc.metPause(o.submittedAtMs, o.firstTokenAtMs))
                .mapToDouble(JobOutcome::ttftSeconds).toArray();
        double[] withClear = withBatch.stream().filter(o -> !gc.metPause(o.submittedAtMs, o.firstTokenAtMs))
                .mapToDouble(JobOutcome::ttftSeconds).toArray();
        if (aloneClear.length == 0 || withClear.length == 0) {
            return;
        }
        double ratio = Stats.pct(withClear, 0.99) / Stats.pct(aloneClear, 0.99);
        out.printf(Locale.ROOT, "  jobs whose queued → first token met a pause: alone %d of %d, with batch %d of %d; p99 TTFT of the "
                + "others: alone %.0f ms, with batch %.0f ms%n", alone.size() - aloneClear.length, alone.size(),
                withBatch.size() - withClear.length, withBatch.size(), Stats.pct(aloneClear, 0.99) * 1000,
                Stats.pct(withClear, 0.99) * 1000);
        out.printf(Locale.ROOT, "RATIO interactive p99 TTFT with ÷ without batch, jobs that met no GC pause = %.2f   (control: "
                + "the pauses of the process's collector)%n", ratio);
        m.put("jobs_met_gc_pause_alone" + key, alone.size() - aloneClear.length);
        m.put("jobs_met_gc_pause_with_batch" + key, withBatch.size() - withClear.length);
        m.put("ratio_ttft_p99_no_gc_pause" + key, ReplayReport.round(ratio));
    }

    /** The finished jobs with a time to first token. */
    private static List<JobOutcome> measured(Replayer.Result r) {
        return r.outcomes().stream().filter(o -> o.finished() && !Double.isNaN(o.ttftSeconds())).toList();
    }

    private static double[] ttft(Replayer.Result r) {
        return measured(r).stream().mapToDouble(JobOutcome::ttftSeconds).toArray();
    }

    private record BatchRun(int lines, String status, double seconds, double validatedSeconds, double uploadSeconds) {
    }

    private static BatchRun runBatch(String url, Path input, PrintStream out) throws IOException {
        long u0 = System.nanoTime();
        String fileId = upload(url, input);
        double uploadSeconds = (System.nanoTime() - u0) / 1e9;
        long t0 = System.nanoTime();
        String id = create(url, fileId);
        double validated = Double.NaN;
        JsonObject b;
        long lastPrint = 0;
        while (true) {
            b = get(url, id);
            String status = b.getString("status");
            double at = (System.nanoTime() - t0) / 1e9;
            if (Double.isNaN(validated) && !"validating".equals(status)) {
                validated = at;
            }
            if (Set.of("completed", "failed", "expired", "cancelled").contains(status)) {
                break;
            }
            if (System.nanoTime() - lastPrint > 10_000_000_000L) {
                lastPrint = System.nanoTime();
                out.printf(Locale.ROOT, "  batch %s: %s, %s%n", id, status, b.getJsonObject("request_counts").encode());
            }
            sleep(100);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new BatchRun(b.getJsonObject("request_counts").getInteger("total"), b.getString("status"), seconds, validated,
                uploadSeconds);
    }

    private static void awaitRunning(String url, String id) {
        while (true) {
            JsonObject b = get(url, id);
            if (b.getJsonObject("request_counts").getInteger("completed") > 0 || !Set.of("validating", "in_progress").contains(b.getString("status"))) {
                return;
            }
            sleep(200);
        }
    }

    /** Waits (at most 120 s) until the batch has ended, so no batch work competes with what is measured next. */
    private static void awaitEnded(String url, String id) {
        long until = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < until
                && !Set.of("completed", "failed", "expired", "cancelled").contains(get(url, id).getString("status"))) {
            sleep(200);
        }
    }

    static String upload(String url, Path file) throws IOException {
        String boundary = "----inferq-bench-" + System.nanoTime();
        String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + file.getFileName() + "\"\r\n"
                + "Content-Type: application/jsonl\r\n\r\n";
        String tail = "\r\n--" + boundary + "--\r\n";
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/v1/files")).timeout(Duration.ofMinutes(10))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.concat(HttpRequest.BodyPublishers.ofString(head), HttpRequest.BodyPublishers.ofFile(file),
                        HttpRequest.BodyPublishers.ofString(tail))).build();
        return send(req, 200).getString("id");
    }

    static String create(String url, String fileId) {
        return send(HttpRequest.newBuilder(URI.create(url + "/v1/batches")).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(new JsonObject()
                        .put("input_file_id", fileId).put("endpoint", "/v1/chat/completions").put("completion_window", "24h").encode()))
                .build(), 200).getString("id");
    }

    static JsonObject get(String url, String id) {
        return send(HttpRequest.newBuilder(URI.create(url + "/v1/batches/" + id)).timeout(Duration.ofSeconds(60)).GET().build(), 200);
    }

    static void post(String url, String path) {
        try {
            HTTP.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static JsonObject send(HttpRequest req, int expect) {
        try {
            HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != expect) {
                throw new IllegalStateException(req.method() + " " + req.uri() + " answered " + r.statusCode() + ": " + r.body());
            }
            return new JsonObject(r.body());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Samples the heap in use every 50 ms until stopped; reports the peak. */
    private static final class HeapPeak {
        private final AtomicLong peak = new AtomicLong();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        private HeapPeak() {
            thread = new Thread(() -> {
                var mem = ManagementFactory.getMemoryMXBean();
                while (running.get()) {
                    peak.accumulateAndGet(mem.getHeapMemoryUsage().getUsed(), Math::max);
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "heap-peak");
            thread.setDaemon(true);
        }

        static HeapPeak start() {
            HeapPeak h = new HeapPeak();
            h.thread.start();
            return h;
        }

        long stop() {
            running.set(false);
            thread.interrupt();
            return peak.get();
        }
    }
}
