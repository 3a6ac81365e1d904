package io.inferq.loadtests.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.CapacityAccount;
import io.inferq.loadtests.policy.GoodputBound;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.OverheadProbe;
import io.inferq.loadtests.replay.PromptBudget;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.HtmlReport;
import io.inferq.loadtests.report.MetricsSampler;
import io.inferq.loadtests.report.Stats;
import io.inferq.loadtests.report.Svg;
import io.inferq.server.InferqServer;
import io.inferq.server.config.ConfigLoader;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ChipProfile;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.WeightPrecision;
import io.inferq.workers.kv.PoolKvCache;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Routing policies on the real traces, side by side in one run:
 * <ol>
 *   <li>the {@link PolicySimulator} (virtual time, the real scheduler and policies, whole traces) at each load, twice:
 *       as published (every dispatched job runs, however late) and with late jobs dropped at the worker
 *       ({@code sim-wexp}), which is what inferq's workers do with a job whose deadline passed before its batch
 *       started;</li>
 *   <li>the real pipeline — in-process inferq with the simulator's fleet at a time-scale, one server per
 *       policy ({@code dispatcher.policy}) — on a slice of each trace at the pipeline load(s), and the simulator (late
 *       jobs dropped at the worker) on exactly the same slice (same arrivals, prompts shortened to the model's context
 *       as sent), so the pipeline's ratio can be read against the simulator's for the identical workload.</li>
 * </ol>
 * Loads are multiples of the fleet's capacity ({@link PolicySimulator#scaleToLoad}). Pipeline latencies are
 * converted to trace seconds (× time-scale) and judged against the simulator's SLOs; the jobs carry the simulator's
 * deadline (arrival + TTFT SLO, as {@code Cancel-After}) and the dispatcher's wall-clock waits are divided by the
 * time-scale, so both mean the same trace time as in the simulator.
 *
 * <p><b>Validity.</b> The pipeline's own overhead (HTTP, Kafka, dispatcher, worker, results) is real time, not
 * simulated time: multiplied by the time-scale it is added to every job's trace-time latency. An {@link OverheadProbe}
 * measures it while each replay runs (tiny jobs for a model served by a pool of its own with an instant backend);
 * a run is valid when the probes' p90 queued → first token, in trace seconds, is at most {@code --max-overhead-fraction}
 * of both the mean simulated service time of the replayed jobs (running → finished) and the TTFT SLO, every accepted job
 * finished, everything was sent, and the client kept to the schedule (p99 send lag within the same fraction of the SLO).
 */
public final class PolicyBenchmark {
    static final List<String> POLICIES = RoutingPolicies.NAMES;
    /** Served only by the probe's pool, so probes never queue behind the replay. */
    static final String PROBE_MODEL = "qwen2-7b";
    static final String PROBE_POOL = "probe-overhead";

    private PolicyBenchmark() {
    }

    /**
     * Whether a pipeline run measured the simulated fleet rather than the pipeline. Times in trace seconds.
     *
     * @param probes              overhead probes measured during the run
     * @param overheadP50         probes' queued → first token, p50
     * @param overheadP90         the same, p90 (the figure judged)
     * @param probeE2eP50         probes' client send → result seen, p50
     * @param meanService         replayed jobs' mean running → finished (simulated service, as run)
     * @param overheadOverService overheadP90 ÷ meanService
     * @param overheadOverSlo     overheadP90 ÷ TTFT SLO
     * @param sendLagP99          how late the client sent, p99
     */
    record Validity(int probes, double overheadP50, double overheadP90, double probeE2eP50, double meanService,
                    double overheadOverService, double overheadOverSlo, double sendLagP99, long unfinished, int notSent,
                    boolean valid, String reason) {
    }

    /** One row of the table; {@code validity} is null for simulator rows. */
    record Row(String engine, String trace, double load, String policy, int jobs, int good, double goodput, double p50Ttft,
               double p99Ttft, Map<String, Double> utilisation, String note, Validity validity) {

        /** This row with {@code more} after its note. */
        Row withNote(String more) {
            return new Row(engine, trace, load, policy, jobs, good, goodput, p50Ttft, p99Ttft, utilisation, note + " " + more, validity);
        }
    }

    /** A simulator row, where its nominal capacity went, and the trace's goodput bound (null if not computed). */
    record Losses(Row row, CapacityAccount.Breakdown breakdown, GoodputBound.Result bound) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("engine", row.engine());
            m.put("trace", row.trace());
            m.put("load", row.load());
            m.put("policy", row.policy());
            m.put("breakdown", breakdown);
            m.put("bound_jobs_per_s", bound == null ? null : bound.jobsPerSecond());
            return m;
        }
    }

    /**
     * The {@link CapacityAccount} table: each simulator run's nominal capacity split into good jobs and losses (percent of
     * the nominal capacity over the span; the terms sum to 100), with the {@link GoodputBound} as a share of the nominal
     * capacity and the run's goodput as a share of the bound.
     */
    static void printLosses(PrintStream out, List<Losses> losses) {
        out.println("== where the fleet's nominal capacity went (% of nominal capacity × span, in nominal jobs; the terms sum to "
                + "100; see README: bench-policies, capacity decomposition) ==");
        out.printf(Locale.ROOT, "%-9s %-12s %-5s %-21s %s %6s %7s  %s%n", "engine", "trace", "load", "policy",
                CapacityAccount.Breakdown.header(), "bound%", "good÷bd", "per pool: idle/sequences per batch");
        for (Losses l : losses) {
            CapacityAccount.Breakdown b = l.breakdown();
            StringBuilder idle = new StringBuilder();
            b.idleShareByPool().forEach((k, v) -> idle.append(String.format(Locale.ROOT, "%s=%.0f%%/%.1f ", k, 100 * v,
                    b.sequencesPerBatch().get(k))));
            double boundPct = l.bound() == null ? Double.NaN : 100 * l.bound().bound() / b.nominal();
            double ofBound = l.bound() == null ? Double.NaN : b.good() / l.bound().bound();
            out.printf(Locale.ROOT, "%-9s %-12s %-5s %-21s %s %6.1f %7.2f  %s%n", l.row().engine(), l.row().trace(),
                    l.row().load() + "x", l.row().policy(), b.row(), boundPct, ofBound, idle.toString().trim());
        }
    }

    /** ect ÷ round-robin goodput of one trace and load, by engine (NaN where not run). */
    record Ratio(String trace, double load, double simulatorWhole, double simulatorWholeWorkerExpiry, double simulatorSlice,
                 double pipeline, Boolean pipelineValid) {
    }

    public static int run(Flags f, PrintStream out) {
        Path traces = Path.of(f.string("traces", io.inferq.loadtests.TraceFiles.defaultDir().toString()));
        String traceList = f.string("trace", null);
        TraceReader.Format traceFormat = io.inferq.loadtests.TraceFiles.format(f);
        double[] loads = numbers(f.string("loads", "0.5,1,2"), "loads");
        double[] pipelineLoads = numbers(f.string("pipeline-load", "2"), "pipeline-load");
        // the slice: this many trace seconds (after scaling to the load), at most this many requests, per trace
        double pipelineSeconds = f.positive("pipeline-seconds", 30);
        int pipelineRequests = f.intValue("pipeline-requests", 4500);
        // 0.5 (slow motion): on a 2-core machine at 1 the pipeline's own overhead was 10-50% of the simulated service time
        // and the client fell behind on the Azure trace (2x = 270 requests per trace second); at 0.5 it measured 0.2-4%
        double timeScale = f.positive("time-scale", 0.5);
        double maxOverheadFraction = f.positive("max-overhead-fraction", 0.1);
        long probeEveryMs = f.longValue("probe-every-ms", 500);
        boolean deadlines = !f.bool("no-deadlines");
        boolean pipeline = !f.bool("no-pipeline");
        double boundSlot = f.positive("bound-slot-s", 0.25);
        boolean bound = !f.bool("no-bound");
        List<String> policies = List.of(f.string("policies", String.join(",", POLICIES)).split(","));
        // continuous (default): a continuous-batching engine per instance, as the workers run; static: the legacy batch model
        PolicySimulator.InstanceModel instanceModel = PolicySimulator.InstanceModel.parse(f.string("instance-model", "continuous"));
        // batch credits (streams) per instance, in the simulator and the pipeline's server alike; 0: the fleet's (2)
        int credits = f.intValue("credits-per-instance", 0);
        // the dispatcher's online service-time calibration off, in the simulator and the pipeline's server alike
        boolean calibration = !f.bool("no-calibration");
        Path dir = LoadCommand.outDir(f, "bench-policies");
        f.rejectUnknown();
        if (pipelineRequests < 1 || probeEveryMs < 1) {
            throw new IllegalArgumentException("--pipeline-requests and --probe-every-ms must be positive");
        }
        if (credits < 0) {
            throw new IllegalArgumentException("--credits-per-instance must be at least 0 (0: the fleet's), was " + credits);
        }
        PolicySimulator.Settings settings = credits == 0 ? PolicySimulator.Settings.defaults()
                : PolicySimulator.Settings.defaults().withCreditsPerInstance(credits);
        PolicySimulator sim = new PolicySimulator(settings).withInstanceModel(instanceModel).withCalibration(calibration);
        Map<String, List<TraceRequest>> byTrace = new LinkedHashMap<>();
        if (traceList == null) {
            byTrace.put("conversation", TraceReader.read(traces.resolve("conversation_trace.jsonl"), traceFormat));
            byTrace.put("azure-conv", TraceReader.read(traces.resolve("AzureLLMInferenceTrace_conv.csv"), traceFormat));
        } else { // --trace a,b: any traces, labelled by file name
            for (String p : traceList.split(",")) {
                io.inferq.loadtests.TraceFiles.TraceInput in = new io.inferq.loadtests.TraceFiles.TraceInput(Path.of(p.trim()), traceFormat);
                byTrace.put(in.label(), in.read());
            }
        }
        List<Row> rows = new ArrayList<>();
        out.printf(Locale.ROOT, "fleet %s serving %s (%d batch credits per instance); SLO TTFT ≤ %.1f s, TPOT ≤ %.0f ms%n",
                settings.pools().stream().map(p -> p.instances() + "×" + p.chipId()).toList(), settings.model(),
                settings.dispatch().maxInFlightBatchesPerInstance(), settings.ttftSloSeconds(), settings.tpotSloSeconds() * 1000);
        out.println("instance model: " + instanceModel.name().toLowerCase(Locale.ROOT)
                + (instanceModel == PolicySimulator.InstanceModel.CONTINUOUS
                        ? " (a continuous-batching engine per instance, as inferq's workers run)"
                        : " (legacy: each instance runs one batch at a time)"));
        for (var e : byTrace.entrySet()) { // loads are multiples of the nominal capacity; this states them against both
            out.println(io.inferq.loadtests.policy.CacheAwareCapacity.measure(sim, e.getValue(), "ect").describe(e.getKey(), loads));
            out.println(io.inferq.loadtests.policy.RoutingGain.of(sim, e.getValue()).describe(e.getKey()));
        }
        out.println("== policy simulator (virtual time, whole traces); simulator: every dispatched job runs, however late; "
                + "sim-wexp: a job whose deadline passed before its batch starts is dropped at the worker, as inferq's workers do ==");
        header(out);
        List<Losses> losses = new ArrayList<>();
        Map<String, GoodputBound.Result> bounds = new LinkedHashMap<>();
        for (var e : byTrace.entrySet()) {
            for (double load : loads) {
                List<TraceRequest> scaled = sim.scaleToLoad(e.getValue(), load);
                GoodputBound.Result b = bound ? GoodputBound.of(sim, boundSlot).compute(scaled) : null;
                if (b != null) {
                    bounds.put(e.getKey() + "@" + load, b);
                    out.printf(Locale.ROOT, "BOUND %s %.1fx: %s = %.0f%% of the fleet's nominal capacity (%.2f jobs/s)%n", e.getKey(),
                            load, b.describe(), 100 * b.jobsPerSecond() / sim.capacityJobsPerSecond(e.getValue()),
                            sim.capacityJobsPerSecond(e.getValue()));
                }
                for (String engine : List.of("simulator", "sim-wexp")) {
                    for (String p : policies) {
                        PolicySimulator.Accounted a = sim.runAccounted(scaled, simName(p), true, engine.equals("sim-wexp"));
                        PolicySimulator.Result r = a.result();
                        Row row = new Row(engine, e.getKey(), load, p, r.jobs(), r.good(), r.goodput(), r.p50Ttft(), r.p99Ttft(),
                                r.utilisation(), simNote(r), null);
                        rows.add(row);
                        losses.add(new Losses(row, a.breakdown(), b));
                        print(out, row);
                    }
                    ratio(out, rows, engine, e.getKey(), load);
                    capacityCheck(out, rows, engine, e.getKey(), load, sim.capacityJobsPerSecond(e.getValue()));
                }
            }
        }
        if (instanceModel == PolicySimulator.InstanceModel.STATIC) {
            printLosses(out, losses);
        } else {
            // the decomposition follows static batches (start, end, padding); the engine model has none of these
            out.println("(capacity decomposition: printed for the static instance model only)");
        }
        if (pipeline) {
            Map<String, ReplayPlan> plans = new LinkedHashMap<>();
            out.printf(Locale.ROOT, "== policy simulator on the pipeline's slices (first %.0f trace s, at most %d requests; prompts as sent; "
                    + "late jobs dropped at the worker) ==%n", pipelineSeconds, pipelineRequests);
            header(out);
            for (var e : byTrace.entrySet()) {
                for (double load : pipelineLoads) {
                    ReplayPlan plan = ReplayPlan.of(sim.scaleToLoad(e.getValue(), load), 0, Math.round(pipelineSeconds * 1000), 1.0,
                            pipelineRequests, 42);
                    plans.put(e.getKey() + "@" + load, plan);
                    List<TraceRequest> sent = asSent(plan, settings.model());
                    for (String p : policies) {
                        PolicySimulator.Result r = sim.run(sent, simName(p), true, true);
                        double span = Math.max(1, plan.spanMs()) / 1000.0;
                        Row row = new Row("sim-slice", e.getKey(), load, p, r.jobs(), r.good(), r.good() / span, r.p50Ttft(),
                                r.p99Ttft(), r.utilisation(), simNote(r), null);
                        rows.add(row);
                        print(out, row);
                    }
                    ratio(out, rows, "sim-slice", e.getKey(), load);
                }
            }
            out.printf(Locale.ROOT, "== real pipeline (in-process inferq, simulator's fleet at time-scale %s, loads %s; %s; "
                            + "overhead probes every %d ms) ==%n", fmt(timeScale), Arrays.toString(pipelineLoads),
                    deadlines ? "jobs carry the simulator's deadline (TTFT SLO)" : "no deadlines", probeEveryMs);
            for (String p : policies) {
                EmbeddedInferq.Options o = EmbeddedInferq.Options.defaults().timeScale(timeScale).policy(p)
                        .fleet(EmbeddedInferq.Fleet.SIMULATOR).extra(tree -> {
                            pipelineConfig(tree, timeScale);
                            matchPrefixCacheCapacity(tree, settings);
                            ((ObjectNode) tree.get("dispatcher")).put("max-in-flight-batches-per-instance",
                                    settings.dispatch().maxInFlightBatchesPerInstance())
                                    .put("service-time-calibration", calibration);
                        });
                ObjectNode config = EmbeddedInferq.config(o);
                PromptBudget budget = PromptBudget.ofPools(settings.model(), config.get("pools"), "the simulator's fleet");
                out.printf(Locale.ROOT, "starting inferq with dispatcher.policy=%s...%n", p);
                try (InferqServer server = InferqServer.start(ConfigLoader.bind(config)).awaitReady(Duration.ofSeconds(60))) {
                    String url = "http://127.0.0.1:" + server.httpPort();
                    warmUp(server, url, settings.model(), probeEveryMs);
                    for (var e : byTrace.entrySet()) {
                        for (double load : pipelineLoads) {
                            ReplayPlan plan = plans.get(e.getKey() + "@" + load);
                            double wallSpan = plan.spanMs() / 1000.0 / timeScale;
                            Replayer.Settings s = new Replayer.Settings(timeScale, settings.model(), 256, 2 * wallSpan + 60,
                                    Math.max(60, 2 * wallSpan), 10, 500);
                            Duration cancelAfter = deadlines
                                    ? Duration.ofMillis(Math.round(settings.ttftSloSeconds() * 1000 / timeScale)) : null;
                            out.printf(Locale.ROOT, "-- %s, %s at %.1fx: %d requests over %.1f trace s = %.1f wall s%n", p, e.getKey(),
                                    load, plan.items().size(), plan.spanMs() / 1000.0, wallSpan);
                            Replayer.Result r;
                            List<OverheadProbe.Sample> probes;
                            try (ResultFollower t = new ResultFollower(server.kafkaBootstrapServers());
                                 HttpTarget target = new HttpTarget(url, null, cancelAfter);
                                 OverheadProbe probe = new OverheadProbe(url, server.kafkaBootstrapServers(), PROBE_MODEL, probeEveryMs)) {
                                r = Replayer.run(plan, s, budget, PromptBudget.OverBudget.SEND, target, t, url, out);
                                probes = probe.samples();
                            }
                            Row row = pipelineRow(e.getKey(), load, p, plan, r, timeScale, settings, probes, maxOverheadFraction)
                                    .withNote(calibrationNote(pipelineCalibration(url)));
                            rows.add(row);
                            print(out, row);
                            validityLine(out, row);
                        }
                    }
                }
            }
            out.println("== real pipeline ==");
            header(out);
            rows.stream().filter(r -> r.engine().equals("pipeline")).forEach(r -> print(out, r));
            for (String t : byTrace.keySet()) {
                for (double load : pipelineLoads) {
                    ratio(out, rows, "pipeline", t, load);
                }
            }
        }
        List<Ratio> ratios = ratios(rows, byTrace.keySet(), loads, pipeline ? pipelineLoads : new double[0]);
        printRatios(out, ratios);
        Map<String, Object> summary = new LinkedHashMap<>();
        Map<String, Object> setup = new LinkedHashMap<>();
        setup.put("fleet", settings.pools().stream().map(p -> p.instances() + "×" + p.chipId()).toList());
        setup.put("model", settings.model());
        setup.put("ttft_slo_s", settings.ttftSloSeconds());
        setup.put("tpot_slo_s", settings.tpotSloSeconds());
        setup.put("loads", loads);
        setup.put("pipeline", pipeline);
        setup.put("pipeline_loads", pipelineLoads);
        setup.put("pipeline_seconds", pipelineSeconds);
        setup.put("pipeline_requests", pipelineRequests);
        setup.put("time_scale", timeScale);
        setup.put("deadlines", deadlines);
        setup.put("max_overhead_fraction", maxOverheadFraction);
        setup.put("instance_model", instanceModel.name().toLowerCase(Locale.ROOT));
        setup.put("credits_per_instance", settings.dispatch().maxInFlightBatchesPerInstance());
        setup.put("service_time_calibration", calibration);
        summary.put("setup", setup);
        summary.put("ratios_ect_over_round_robin", ratios);
        summary.put("rows", rows);
        if (instanceModel == PolicySimulator.InstanceModel.STATIC) {
            summary.put("losses", losses.stream().map(Losses::json).toList());
        }
        summary.put("bounds", bounds);
        Bench.writeJson(dir.resolve("summary.json"), summary);
        writeHtml(dir, rows, ratios, byTrace.keySet(), policies, setup);
        out.println("report: " + dir.resolve("report.html").toAbsolutePath());
        return 0;
    }

    /**
     * The pipeline's server: dispatcher waits divided by the time-scale (so they are the simulator's trace-time
     * waits), and a one-instance pool of {@link #PROBE_MODEL} with an instant backend for the overhead probes.
     */
    static void pipelineConfig(ObjectNode tree, double timeScale) {
        ObjectNode d = (ObjectNode) tree.get("dispatcher");
        for (String k : List.of("interactive-max-wait-ms", "batch-max-wait-ms", "batch-promotion-after-ms")) {
            d.put(k, Math.max(1, Math.round(d.get(k).asLong() / timeScale)));
        }
        tree.withArray("pools").addObject().put("id", PROBE_POOL).put("chip", "h800").put("chips-per-instance", 1)
                .put("instances", 1).put("model", PROBE_MODEL).put("backend", "simulated").put("max-batch-tokens", 4096)
                .put("max-concurrent-sequences", 4).put("time-scale", 1e6);
    }

    /**
     * Gives each pool of the pipeline's server the simulator's prefix-cache capacity in tokens (blocks per pool × block
     * tokens), by storing the simulated pools' KV payloads that many times smaller ({@code
     * kv-cache.simulated-payload-scale-down}, raised to a power of two; never lowered) in this process's local tier, which
     * the server splits evenly over its pools. A pool's blocks are reused on that pool only (the KV format names the chip
     * family), so in one process the local tier is each pool's cache, as the simulator's per-pool cache is. With the
     * defaults (256 MiB, payloads 64 times smaller) a pool held about 110,000 of deepseek-v2-lite's tokens against the
     * simulator's 10 million, and the pipeline read 6 % of the prompt tokens of the conversation slice from the cache
     * where the simulator read 19 % (the rest of that gap was when blocks are stored: see {@link PolicySimulator}).
     */
    static void matchPrefixCacheCapacity(ObjectNode tree, PolicySimulator.Settings s) {
        if (s.prefixCacheBlocksPerPool() <= 0) {
            return; // sized from each engine's free KV memory: no fixed figure to match
        }
        ObjectNode kv = (ObjectNode) tree.get("kv-cache");
        int blockTokens = kv.get("block-tokens").asInt();
        ModelProfile model = ModelCatalogue.builtIn().get(s.model());
        double bytesPerToken = 0; // the largest of the fleet's pools (their precisions may differ)
        for (PolicySimulator.SimPool p : s.pools()) {
            ChipProfile chip = ChipCatalogue.builtIn().get(p.chipId());
            WeightPrecision precision = p.precision() != null ? p.precision()
                    : WeightPrecision.servedOn(model, chip);
            bytesPerToken = Math.max(bytesPerToken,
                    PoolKvCache.geometry(model, precision).bytesPerBlock(blockTokens) / (double) blockTokens);
        }
        double perPoolBytes = kv.get("local-tier-bytes").asDouble() / Math.max(1, tree.get("pools").size());
        double needed = (double) s.prefixCacheBlocksPerPool() * s.prefixBlockTokens() * bytesPerToken / perPoolBytes;
        int scale = kv.get("simulated-payload-scale-down").asInt();
        while (scale < needed && scale < (1 << 24)) {
            scale *= 2;
        }
        kv.put("simulated-payload-scale-down", scale);
    }

    /**
     * Runs the whole path (HTTP, Kafka, dispatcher, workers, results) for a few seconds before measuring, so a fresh
     * server's first jobs (class loading, JIT, first fetches) are not the replay's: 24 tiny jobs of the fleet's model
     * over 3 s, with overhead probes alongside.
     */
    static void warmUp(InferqServer server, String url, String model, long probeEveryMs) {
        List<TraceRequest> tiny = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            tiny.add(new TraceRequest(i * 125L, 64, 4, List.of()));
        }
        ReplayPlan plan = ReplayPlan.of(tiny, 0, Long.MAX_VALUE, 1.0, tiny.size(), 1);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream(), true, java.nio.charset.StandardCharsets.UTF_8);
        try (ResultFollower t = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null);
             OverheadProbe probe = new OverheadProbe(url, server.kafkaBootstrapServers(), PROBE_MODEL, Math.min(probeEveryMs, 250))) {
            Replayer.run(plan, new Replayer.Settings(1.0, model, 16, 30, 30, 60, 1000), target, t, null, quiet);
            if (probe.samples().isEmpty()) {
                quiet.println("no probe finished during the warm-up");
            }
        }
    }

    /** The plan's requests as the replay sends them (prompt and output shortened to the model's context), as a trace. */
    static List<TraceRequest> asSent(ReplayPlan plan, String model) {
        List<TraceRequest> out = new ArrayList<>(plan.items().size());
        for (ReplayPlan.Item it : plan.items()) {
            out.add(new TraceRequest(it.atMs(), Replayer.promptWords(it.request(), model) + PromptText.TEMPLATE_TOKENS,
                    Replayer.outputTokens(it.request(), model), it.request().blockHashes()));
        }
        return out;
    }

    /** Rejected and expired jobs, and the good jobs each pool ran (where the goodput comes from). */
    static String simNote(PolicySimulator.Result r) {
        StringBuilder sb = new StringBuilder("rej " + r.rejected() + " exp " + r.expired()
                + String.format(Locale.ROOT, " prefix hits %.1f%%", 100 * r.prefixHitRatio()) + " good by pool");
        r.goodByPool().forEach((pool, n) -> sb.append(' ').append(pool).append('=').append(n));
        Map<String, double[]> cal = new LinkedHashMap<>();
        r.calibration().forEach((pool, c) -> cal.put(pool, new double[] {c.prefill(), c.decode(), c.firstToken()}));
        return sb.append(' ').append(calibrationNote(cal)).toString();
    }

    /**
     * {@code "learned p/d/ft: pool=1.00/0.95/1.10 …"}: each pool's learned prefill and decode time ÷ its configured
     * (roofline) one, the figures the default policy ranks pools by, and its observed ÷ predicted time to first token,
     * which deadline-aware batch sizing uses. Where simulator and pipeline disagree on them, they disagree on routing.
     */
    static String calibrationNote(Map<String, double[]> scales) {
        if (scales.isEmpty()) {
            return "learned p/d/ft n/a";
        }
        StringBuilder sb = new StringBuilder("learned p/d/ft:");
        scales.forEach((pool, s) -> sb.append(String.format(Locale.ROOT, " %s=%.2f/%.2f/%.2f", pool, s[0], s[1], s[2])));
        return sb.toString();
    }

    /** The pipeline server's learned service-time scales, from its {@code /metrics} (empty if it does not answer). */
    static Map<String, double[]> pipelineCalibration(String baseUrl) {
        try {
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create(baseUrl + "/metrics"))
                            .timeout(Duration.ofSeconds(5)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? calibrationFromMetrics(r.body()) : Map.of();
        } catch (java.io.IOException e) {
            return Map.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        }
    }

    /**
     * Per pool (the probe pool left out), {prefill, decode, first token} from the
     * {@code inferq_dispatcher_pool_service_time_scale} gauges of a Prometheus text; a phase not found is NaN.
     */
    static Map<String, double[]> calibrationFromMetrics(String text) {
        Map<String, double[]> out = new java.util.TreeMap<>();
        for (String line : text.split("\n")) {
            if (!line.startsWith("inferq_dispatcher_pool_service_time_scale{")) {
                continue;
            }
            String pool = MetricsSampler.label(line, "pool");
            String phase = MetricsSampler.label(line, "phase");
            // "overall" is not printed
            int index = "prefill".equals(phase) ? 0 : "decode".equals(phase) ? 1 : "first_token".equals(phase) ? 2 : -1;
            if (pool.equals("?") || index < 0 || pool.equals(PROBE_POOL)) {
                continue;
            }
            double v;
            try {
                v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            } catch (NumberFormatException e) {
                continue;
            }
            out.computeIfAbsent(pool, k -> new double[] {Double.NaN, Double.NaN, Double.NaN})[index] = v;
        }
        return out;
    }

    static String simName(String policy) {
        return RoutingPolicies.shortName(policy);
    }

    static Row pipelineRow(String trace, double load, String policy, ReplayPlan plan, Replayer.Result r, double timeScale,
            PolicySimulator.Settings s, List<OverheadProbe.Sample> probes, double maxFraction) {
        List<JobOutcome> done = r.outcomes().stream().filter(o -> "succeeded".equals(o.status)).toList();
        double[] ttft = done.stream().mapToDouble(o -> o.ttftSeconds() * timeScale).toArray();
        int good = (int) done.stream().filter(o -> o.ttftSeconds() * timeScale <= s.ttftSloSeconds()
                && o.tpotSeconds() * timeScale <= s.tpotSloSeconds()).count();
        double span = Math.max(1, plan.spanMs()) / 1000.0;
        Map<String, Double> util = new LinkedHashMap<>();
        List<MetricsSampler.Sample> ss = r.samples();
        ss.forEach(x -> x.poolUtilisation().keySet().stream().filter(k -> !k.equals(PROBE_POOL)).forEach(k -> util.putIfAbsent(k, 0.0)));
        util.replaceAll((k, v) -> ss.stream().mapToDouble(x -> x.poolUtilisation().getOrDefault(k, Double.NaN))
                .filter(d -> !Double.isNaN(d)).average().orElse(Double.NaN));
        long rejected = r.outcomes().stream().filter(o -> !o.accepted()).count();
        long unfinished = r.outcomes().stream().filter(o -> o.accepted() && !o.finished()).count();
        Map<String, Long> ended = new java.util.TreeMap<>();
        r.outcomes().stream().filter(JobOutcome::finished).filter(o -> !"succeeded".equals(o.status))
                .forEach(o -> ended.merge(o.status + (o.errorCode != null ? ":" + o.errorCode : "") + reason(o.errorMessage), 1L, Long::sum));
        Validity v = validity(r, timeScale, s.ttftSloSeconds(), probes, maxFraction, unfinished);
        return new Row("pipeline", trace, load, policy, r.outcomes().size(), good, good / span, Stats.pct(ttft, 0.5),
                Stats.pct(ttft, 0.99), util, "rej " + rejected + " unfinished " + unfinished + " clamped " + r.clamped()
                + (ended.isEmpty() ? "" : " " + ended) + " " + pipelineNote(r.outcomes(), timeScale, s), v);
    }

    /**
     * Where a pipeline run's goodput comes from, to set beside the simulator's note: the share of prompt tokens of
     * finished jobs read from a prefix cache, {@code "good by pool a=n …"} (the pool each good job ran on, as the
     * simulator prints both), the dispatcher's prompt-token count ÷ the tokens sent (1
     * when the simulator's slice sees the prompts the dispatcher saw), the age at which expired jobs ended and the wait
     * from send to a worker starting the job (trace seconds, p50 / p90).
     */
    static String pipelineNote(List<JobOutcome> outcomes, double timeScale, PolicySimulator.Settings s) {
        Map<String, Integer> goodByPool = new java.util.TreeMap<>();
        long server = 0;
        long sent = 0;
        long cached = 0;
        List<Double> expiredAge = new ArrayList<>();
        List<Double> startWait = new ArrayList<>();
        for (JobOutcome o : outcomes) {
            if ("succeeded".equals(o.status) && o.ttftSeconds() * timeScale <= s.ttftSloSeconds()
                    && o.tpotSeconds() * timeScale <= s.tpotSloSeconds()) {
                goodByPool.merge(String.valueOf(o.pool), 1, Integer::sum);
            }
            if (o.serverPromptTokens > 0) {
                server += o.serverPromptTokens;
                sent += o.promptTokens;
                cached += o.cachedTokens;
            }
            if ("expired".equals(o.status) && o.finishedAtMs > 0) {
                expiredAge.add((o.finishedAtMs - o.sentAtMs) / 1000.0 * timeScale);
            }
            if (o.startedAtMs > 0) {
                startWait.add((o.startedAtMs - o.sentAtMs) / 1000.0 * timeScale);
            }
        }
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "prefix hits %.1f%% good by pool",
                server == 0 ? Double.NaN : 100.0 * cached / server));
        goodByPool.forEach((pool, n) -> sb.append(' ').append(pool).append('=').append(n));
        double[] age = expiredAge.stream().mapToDouble(Double::doubleValue).toArray();
        double[] wait = startWait.stream().mapToDouble(Double::doubleValue).toArray();
        return sb.append(String.format(Locale.ROOT, " prompt tokens seen/sent %.3f expired at age p50/p90 %.2f/%.2f s"
                        + " started after p50/p90 %.2f/%.2f s", sent == 0 ? Double.NaN : (double) server / sent,
                Stats.pct(age, 0.5), Stats.pct(age, 0.9), Stats.pct(wait, 0.5), Stats.pct(wait, 0.9))).toString();
    }

    /** A failure's message without job ids and numbers, so equal reasons count together (" (…)" or ""). */
    static String reason(String message) {
        if (message == null) {
            return "";
        }
        String m = message.replaceAll("job_[0-9A-Za-z_-]+", "job").replaceAll("[0-9]+", "#");
        return " (" + (m.length() > 60 ? m.substring(0, 60) + "…" : m) + ")";
    }

    static Validity validity(Replayer.Result r, double timeScale, double ttftSlo, List<OverheadProbe.Sample> probes,
            double maxFraction, long unfinished) {
        double[] toFirst = probes.stream().mapToDouble(p -> p.toFirstTokenMs() / 1000.0 * timeScale).toArray();
        double[] e2e = probes.stream().mapToDouble(p -> p.e2eMs() / 1000.0 * timeScale).toArray();
        double p50 = Stats.pct(toFirst, 0.5);
        double p90 = Stats.pct(toFirst, 0.9);
        double service = Stats.mean(r.outcomes().stream().filter(o -> "succeeded".equals(o.status))
                .mapToDouble(o -> o.serviceSeconds() * timeScale).toArray());
        double lag = r.sendLagP99Ms() / 1000.0 * timeScale;
        List<String> why = new ArrayList<>();
        if (Stats.sorted(toFirst).length < 3) {
            why.add("fewer than 3 overhead probes");
        }
        if (!(p90 / service <= maxFraction)) {
            why.add(String.format(Locale.ROOT, "overhead p90 %.3f s is %.0f%% of the mean service %.3f s", p90, 100 * p90 / service, service));
        }
        if (!(p90 / ttftSlo <= maxFraction)) {
            why.add(String.format(Locale.ROOT, "overhead p90 %.3f s is %.0f%% of the TTFT SLO", p90, 100 * p90 / ttftSlo));
        }
        if (!(lag / ttftSlo <= maxFraction)) {
            why.add(String.format(Locale.ROOT, "client sent late: p99 %.3f trace s", lag));
        }
        if (unfinished > 0) {
            why.add(unfinished + " accepted jobs unfinished");
        }
        if (r.notSent() > 0) {
            why.add(r.notSent() + " requests not sent");
        }
        return new Validity(Stats.sorted(toFirst).length, p50, p90, Stats.pct(e2e, 0.5), service, p90 / service, p90 / ttftSlo,
                lag, unfinished, r.notSent(), why.isEmpty(), String.join("; ", why));
    }

    private static void validityLine(PrintStream out, Row r) {
        Validity v = r.validity();
        out.printf(Locale.ROOT, "VALIDITY pipeline %s %.1fx %s: overhead per job (probes, queued → first token) p50 %.3f / p90 %.3f "
                        + "trace s (probe end-to-end p50 %.3f), mean simulated service %.3f s: overhead ÷ service %.3f, ÷ TTFT SLO %.3f; "
                        + "send lag p99 %.3f s → %s%n", r.trace(), r.load(), r.policy(), v.overheadP50(), v.overheadP90(), v.probeE2eP50(),
                v.meanService(), v.overheadOverService(), v.overheadOverSlo(), v.sendLagP99(),
                v.valid() ? "valid" : "NOT VALID (" + v.reason() + ")");
    }

    static List<Ratio> ratios(List<Row> rows, java.util.Set<String> traces, double[] loads, double[] pipelineLoads) {
        java.util.TreeSet<Double> all = new java.util.TreeSet<>();
        Arrays.stream(loads).forEach(all::add);
        Arrays.stream(pipelineLoads).forEach(all::add);
        List<Ratio> out = new ArrayList<>();
        for (String t : traces) {
            for (double load : all) {
                Row pe = find(rows, "pipeline", t, load, "estimated-completion");
                Row pr = find(rows, "pipeline", t, load, "round-robin");
                Boolean valid = pe == null || pr == null ? null : pe.validity().valid() && pr.validity().valid();
                out.add(new Ratio(t, load, ratioOf(rows, "simulator", t, load), ratioOf(rows, "sim-wexp", t, load),
                        ratioOf(rows, "sim-slice", t, load),
                        ratioOf(rows, "pipeline", t, load), valid));
            }
        }
        return out;
    }

    private static double ratioOf(List<Row> rows, String engine, String trace, double load) {
        Row ect = find(rows, engine, trace, load, "estimated-completion");
        Row rr = find(rows, engine, trace, load, "round-robin");
        return ect == null || rr == null ? Double.NaN : ect.goodput() / rr.goodput();
    }

    private static void printRatios(PrintStream out, List<Ratio> ratios) {
        out.println("== goodput ect ÷ round-robin, side by side (simulator on the whole trace | the same with late jobs dropped at "
                + "the worker | that on the pipeline's slice | the real pipeline on that slice) ==");
        out.printf(Locale.ROOT, "%-13s %-5s %16s %16s %16s %10s  %s%n", "trace", "load", "simulator-whole", "sim-whole-wexp",
                "simulator-slice", "pipeline", "pipeline valid");
        for (Ratio r : ratios) {
            out.printf(Locale.ROOT, "%-13s %-5s %16s %16s %16s %10s  %s%n", r.trace(), r.load() + "x", fmtRatio(r.simulatorWhole()),
                    fmtRatio(r.simulatorWholeWorkerExpiry()), fmtRatio(r.simulatorSlice()), fmtRatio(r.pipeline()),
                    r.pipelineValid() == null ? "-" : r.pipelineValid() ? "valid" : "NOT VALID");
        }
    }

    private static String fmtRatio(double v) {
        return Double.isNaN(v) ? "-" : Double.isInfinite(v) ? "inf" : String.format(Locale.ROOT, "%.2f", v);
    }

    private static void writeHtml(Path dir, List<Row> rows, List<Ratio> ratios, java.util.Set<String> traces, List<String> policies,
            Map<String, Object> setup) {
        HtmlReport h = new HtmlReport("inferq routing policies on real traces");
        h.heading("Setup").keyValues(setup);
        h.heading("Goodput ect ÷ round-robin");
        List<List<String>> rt = new ArrayList<>();
        for (Ratio r : ratios) {
            rt.add(List.of(r.trace(), r.load() + "x", fmtRatio(r.simulatorWhole()), fmtRatio(r.simulatorWholeWorkerExpiry()),
                    fmtRatio(r.simulatorSlice()), fmtRatio(r.pipeline()),
                    r.pipelineValid() == null ? "-" : r.pipelineValid() ? "valid" : "NOT VALID"));
        }
        h.table(List.of("trace", "load", "simulator, whole trace", "simulator, whole trace, late jobs dropped at the worker",
                "simulator (late jobs dropped), pipeline's slice", "pipeline", "pipeline valid"), rt);
        h.heading("All runs");
        List<List<String>> table = new ArrayList<>();
        for (Row r : rows) {
            table.add(List.of(r.engine(), r.trace(), r.load() + "x", r.policy(), Integer.toString(r.jobs()), Integer.toString(r.good()),
                    String.format(Locale.ROOT, "%.3f", r.goodput()), String.format(Locale.ROOT, "%.2f", r.p50Ttft()),
                    String.format(Locale.ROOT, "%.2f", r.p99Ttft()), util(r.utilisation()), r.note()));
        }
        h.table(List.of("engine", "trace", "load", "policy", "jobs", "good", "goodput/s", "p50 TTFT s", "p99 TTFT s", "utilisation", "note"), table);
        h.heading("Pipeline validity (trace seconds)");
        h.paragraph("Overhead = the pipeline's own time per job (probe jobs on a pool of their own with an instant backend, queued → "
                + "first token) × time-scale. A run is valid when its p90 is at most max_overhead_fraction of both the mean simulated "
                + "service time and the TTFT SLO, every accepted job finished, and the client kept to the schedule.");
        List<List<String>> vt = new ArrayList<>();
        for (Row r : rows) {
            Validity v = r.validity();
            if (v != null) {
                vt.add(List.of(r.trace(), r.load() + "x", r.policy(), Integer.toString(v.probes()), f3(v.overheadP50()), f3(v.overheadP90()),
                        f3(v.probeE2eP50()), f3(v.meanService()), f3(v.overheadOverService()), f3(v.overheadOverSlo()), f3(v.sendLagP99()),
                        v.valid() ? "valid" : "NOT VALID: " + v.reason()));
            }
        }
        h.table(List.of("trace", "load", "policy", "probes", "overhead p50", "overhead p90", "probe e2e p50", "mean service",
                "overhead ÷ service", "overhead ÷ SLO", "send lag p99", "verdict"), vt);
        for (String engine : List.of("simulator", "sim-wexp")) {
            for (String t : traces) {
                List<Svg.Series> series = new ArrayList<>();
                for (String p : policies) {
                    List<Row> rs = rows.stream().filter(r -> r.engine().equals(engine) && r.trace().equals(t) && r.policy().equals(p)).toList();
                    series.add(new Svg.Series(p, rs.stream().mapToDouble(Row::load).toArray(), rs.stream().mapToDouble(Row::goodput).toArray()));
                }
                h.chart(Svg.chart("goodput", "Goodput vs load — " + t + " (" + engine + ")", "load (× capacity)", "good jobs / s", series));
            }
        }
        h.write(dir.resolve("report.html"));
    }

    private static String f3(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private static double[] numbers(String list, String flag) {
        try {
            double[] v = Arrays.stream(list.split(",")).mapToDouble(Double::parseDouble).toArray();
            if (Arrays.stream(v).anyMatch(x -> !(x > 0) || Double.isInfinite(x))) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + flag + " must be a comma-separated list of positive numbers, was '" + list + "'", e);
        }
    }

    private static void header(PrintStream out) {
        out.printf(Locale.ROOT, "%-9s %-12s %-5s %-21s %6s %6s %9s %8s %8s  %s%n", "engine", "trace", "load", "policy", "jobs",
                "good", "goodput/s", "p50TTFT", "p99TTFT", "utilisation per pool");
    }

    private static void print(PrintStream out, Row r) {
        out.printf(Locale.ROOT, "%-9s %-12s %-5s %-21s %6d %6d %9.3f %8.2f %8.2f  %s  %s%n", r.engine(), r.trace(), r.load() + "x",
                r.policy(), r.jobs(), r.good(), r.goodput(), r.p50Ttft(), r.p99Ttft(), util(r.utilisation()), r.note());
    }

    private static void ratio(PrintStream out, List<Row> rows, String engine, String trace, double load) {
        Row ect = find(rows, engine, trace, load, "estimated-completion");
        Row rr = find(rows, engine, trace, load, "round-robin");
        if (ect != null && rr != null) {
            String valid = ect.validity() == null ? "" : ect.validity().valid() && rr.validity().valid() ? " (valid)" : " (NOT VALID)";
            out.printf(Locale.ROOT, "RATIO %s %s %.1fx: goodput default(estimated-completion) ÷ round-robin = %s%s%n", engine, trace, load,
                    rr.goodput() == 0 ? (ect.goodput() == 0 ? "n/a (both 0)" : "inf (round-robin 0)")
                            : String.format(Locale.ROOT, "%.2f", ect.goodput() / rr.goodput()), valid);
        }
    }

    /**
     * Whether the target (the default at least 2× round-robin's goodput) fits in the fleet at all: 2 × round-robin's
     * goodput and the default's goodput as shares of the fleet's nominal capacity (the roofline estimate that sets
     * the loads). A share over 100% means no routing policy could reach the target on this fleet without beating
     * the nominal capacity.
     */
    private static void capacityCheck(PrintStream out, List<Row> rows, String engine, String trace, double load, double capacity) {
        Row ect = find(rows, engine, trace, load, "estimated-completion");
        Row rr = find(rows, engine, trace, load, "round-robin");
        if (ect != null && rr != null && capacity > 0) {
            out.printf(Locale.ROOT, "CAPACITY %s %s %.1fx: 2 × round-robin goodput = %.2f jobs/s = %.0f%% of the fleet's nominal capacity "
                    + "(%.2f jobs/s); the default reached %.0f%%%n", engine, trace, load, 2 * rr.goodput(), 200 * rr.goodput() / capacity,
                    capacity, 100 * ect.goodput() / capacity);
        }
    }

    private static Row find(List<Row> rows, String engine, String trace, double load, String policy) {
        return rows.stream().filter(r -> r.engine().equals(engine) && r.trace().equals(trace) && r.load() == load
                && r.policy().equals(policy)).findFirst().orElse(null);
    }

    private static String util(Map<String, Double> u) {
        if (u.isEmpty()) {
            return "utilisation n/a (no /metrics sample answered within 5 s)";
        }
        StringBuilder sb = new StringBuilder();
        u.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "%s=%.0f%% ", k, v * 100)));
        return sb.toString().trim();
    }
}
