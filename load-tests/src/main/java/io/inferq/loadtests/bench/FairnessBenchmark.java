package io.inferq.loadtests.bench;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.TraceFiles;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.dispatcher.fairness.FairnessConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Fair sharing between tenants, side by side in one run, in the {@link PolicySimulator} (virtual time, the real
 * scheduler): several tenants share the simulated fleet at a multiple of its capacity; one (<em>heavy</em>) sends
 * {@code --heavy-factor} times the request rate of each other tenant, with long prompts; one (<em>gold</em>) has
 * weight 2. Each workload runs with fair sharing (the virtual token counter) and fair credits, as the server does by
 * default ({@code fair-server-default}; with {@code --no-fair-credits} these rows run without fair credits and are
 * labelled {@code fair-no-fair-credits}), with fair sharing but without fair credits ({@code fair-no-fair-credits}; and without
 * headroom, {@code fair-no-headroom}, when {@code --headroom-credits} is above 0), with oldest-first lanes
 * ({@link FairnessConfig#oldestFirst()}, the scheduler without fair sharing), and each tenant alone (its own requests
 * at the same times, nothing else on the fleet).
 *
 * <p>Per tenant: goodput (jobs within both SLOs per second of trace), service in tokens (prefill weight × prompt +
 * decode weight × output of the jobs that ran, at full prompt so that demand and service are counted alike), its share
 * of all service, its fair share (max-min by weight: the lesser of its demand and its weighted share of the service
 * delivered, the share left by tenants that want less going to the others) and the ratio received ÷ fair share, and
 * its waits, each side by side with running alone:
 * <ul>
 *   <li><b>queue wait</b> (the goal's metric): arrival → its batch leaves inferq's queue, i.e. is submitted to an
 *       instance's engine (each batch credit is one concurrent stream into the engine, so a sent batch waits for no
 *       other batch at the worker);</li>
 *   <li><b>engine admission wait</b> (the engine's part): submitted → admitted into the engine's running set at an
 *       iteration boundary (static model: the instance queue, submitted → batch start);</li>
 *   <li>arrival → admitted (the two together) and <b>TTFT</b> (arrival → first token).</li>
 * </ul>
 * Ratios to alone floor both waits at the simulator's 1 ms clock ({@link #ratio}). Goals for each well-behaved tenant
 * (all but heavy): received ≥ 90 % of its fair share and p99 queue wait ≤ 1.5 × alone; total goodput within 5 % of
 * oldest-first.
 *
 * <p>Workloads: {@code trace} draws each tenant's requests from the Mooncake conversation trace (light and gold from
 * prompts at or below the median length, heavy from the longest quarter; each tenant's prefix hashes salted apart, as
 * inferq's tenant cache salts do) with Poisson arrivals; {@code synthetic} is generated (log-normal lengths: light and
 * gold prompts around 800 tokens, heavy around 6,000; outputs around 200 and 300; each tenant's prompts open with one
 * of four 2-block system prompts of its own). Arrivals are scaled so the whole mix offers {@code --load} × the fleet's
 * capacity ({@link PolicySimulator#scaleToLoad}).
 *
 * <p>Instance models: by default each workload runs under the continuous-batching engine model
 * ({@link PolicySimulator.InstanceModel#CONTINUOUS}, the workers' model: every batch credit of an instance is its own
 * stream into that instance's engine); {@code --instance-model static} runs the legacy static model instead (each
 * instance runs one batch at a time; labelled {@code <workload>-static}), {@code both} runs both.
 */
public final class FairnessBenchmark {

    static final String HEAVY = "heavy";
    /** Label of the rows with fair sharing and fair credits: the server's default ({@code dispatcher.fairness.*}). */
    static final String SERVER_DEFAULT = "fair-server-default";
    /** Label of the rows with fair sharing but without fair credits ({@code --no-fair-credits}, or beside the default). */
    static final String NO_FAIR_CREDITS = "fair-no-fair-credits";

    /** The label suffix of a workload run under the legacy static instance model. */
    static final String STATIC_SUFFIX = "-static";

    private FairnessBenchmark() {
    }

    /** One tenant of the benchmark: name, weight, relative request rate. */
    record Tenant(String name, double weight, double rate) {
    }

    /**
     * One tenant's figures in one mode. Waits in seconds over the jobs that ran: {@code p50Wait}/{@code p99Wait} the
     * queue wait (arrival → its batch left inferq's queue, i.e. was submitted to an instance's engine), {@code
     * p99EngineWait} the engine's admission wait (submitted → admitted at an iteration boundary; static model: the
     * instance queue, submitted → batch start), {@code p99Admitted} arrival → admitted (the two together), {@code
     * p99Ttft} arrival → first token.
     */
    record TenantRow(String workload, String mode, String tenant, double weight, int requests, int completed, int good,
                     double goodput, double service, double share, double demand, double fairShare, double ofFairShare,
                     double p50Wait, double p99Wait, double p99EngineWait, double p99Admitted, double p99Ttft) {
    }

    /**
     * The simulator's clock resolution (1 ms): the dispatcher decides on whole milliseconds, so a queue wait below it is
     * indistinguishable from none. Ratios to alone are taken of waits floored at it ({@link #ratio}); without the floor a
     * tenant that alone never waits (0 ms) would give 0 ÷ 0 or x ÷ 0.
     */
    static final double RESOLUTION_SECONDS = 0.001;

    /** {@code shared ÷ alone}, each at least {@link #RESOLUTION_SECONDS}. */
    static double ratio(double shared, double alone) {
        return Math.max(shared, RESOLUTION_SECONDS) / Math.max(alone, RESOLUTION_SECONDS);
    }

    public static int run(Flags f, PrintStream console) {
        java.io.ByteArrayOutputStream printed = new java.io.ByteArrayOutputStream();
        PrintStream out = new PrintStream(new java.io.OutputStream() { // the console, and a copy for the report
            @Override
            public void write(int b) {
                console.write(b);
                printed.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                console.write(b, off, len);
                printed.write(b, off, len);
            }
        }, true, java.nio.charset.StandardCharsets.UTF_8);
        Path traces = Path.of(f.string("traces", TraceFiles.defaultDir().toString()));
        String tracePath = f.string("trace", null);
        TraceReader.Format traceFormat = TraceFiles.format(f);
        String fleet = f.string("fleet", "r1-mixed");
        double load = f.positive("load", 2.0);
        double seconds = f.positive("seconds", 300);
        double heavyFactor = f.positive("heavy-factor", 10);
        int lights = f.intValue("light-tenants", 1);
        long seed = f.longValue("seed", 7);
        int credits = f.intValue("credits-per-instance", 0);
        int headroom = f.intValue("headroom-credits", io.inferq.dispatcher.DispatchConfig.DEFAULT_HEADROOM_CREDITS);
        boolean fairCredits = !f.bool("no-fair-credits");
        long headroomWindow = f.longValue("headroom-window-ms", io.inferq.dispatcher.DispatchConfig.DEFAULT_HEADROOM_WINDOW_MS);
        int headroomIdle = f.intValue("headroom-idle-instances", io.inferq.dispatcher.DispatchConfig.DEFAULT_HEADROOM_IDLE_INSTANCES);
        List<String> workloads = List.of(f.string("workloads", "trace,synthetic").split(","));
        // continuous: the workers' model (each batch credit one stream into the instance's continuous-batching engine);
        // static: the legacy model (each instance runs one batch at a time)
        String instanceModels = f.string("instance-model", "continuous");
        Path dir = LoadCommand.outDir(f, "bench-fairness");
        f.rejectUnknown();
        if (lights < 1 || lights > 2) {
            throw new IllegalArgumentException("--light-tenants must be 1 or 2 (2 to 4 tenants in all), was " + lights);
        }
        List<Tenant> tenants = new ArrayList<>();
        tenants.add(new Tenant(HEAVY, 1, heavyFactor));
        for (int i = 1; i <= lights; i++) {
            tenants.add(new Tenant(lights == 1 ? "light" : "light-" + i, 1, 1));
        }
        tenants.add(new Tenant("gold", 2, 1));
        Map<String, Double> weights = new LinkedHashMap<>();
        tenants.forEach(t -> weights.put(t.name(), t.weight()));
        if (headroom < 0) {
            throw new IllegalArgumentException("--headroom-credits must not be negative, was " + headroom);
        }
        FairnessConfig fair = FairnessConfig.defaults().withTenantWeights(weights).withFairCredits(fairCredits);
        PolicySimulator.Settings settings = PolicySimulator.Settings.forFleet(fleet);
        if (credits > 0) { // batches each instance may hold (running + waiting there); the fleet's default is 2
            settings = new PolicySimulator.Settings(settings.fleet(), settings.model(), settings.pools(),
                    settings.ttftSloSeconds(), settings.tpotSloSeconds(), settings.prefixCacheBlocksPerPool(),
                    settings.prefixBlockTokens(), settings.dispatch().withMaxInFlightBatchesPerInstance(credits),
                    settings.seed());
        }
        settings = new PolicySimulator.Settings(settings.fleet(), settings.model(), settings.pools(),
                settings.ttftSloSeconds(), settings.tpotSloSeconds(), settings.prefixCacheBlocksPerPool(),
                settings.prefixBlockTokens(), settings.dispatch().withHeadroom(headroom, headroomWindow)
                .withHeadroomIdleInstances(headroomIdle), settings.seed());
        PolicySimulator sim = new PolicySimulator(settings);
        // side by side, the same fair sharing without each of the two mechanisms that keep room for work below its share
        record Variant(String mode, PolicySimulator sim, FairnessConfig fairness) {
        }
        List<Variant> variants = new ArrayList<>();
        // the server's default (fair credits on) is labelled as such; with --no-fair-credits the fair rows say they lack them
        variants.add(new Variant(fairCredits ? SERVER_DEFAULT : NO_FAIR_CREDITS, sim, fair));
        if (fairCredits) {
            variants.add(new Variant(NO_FAIR_CREDITS, sim, fair.withFairCredits(false)));
        }
        if (headroom > 0) {
            variants.add(new Variant("fair-no-headroom", new PolicySimulator(new PolicySimulator.Settings(settings.fleet(),
                    settings.model(), settings.pools(), settings.ttftSloSeconds(), settings.tpotSloSeconds(),
                    settings.prefixCacheBlocksPerPool(), settings.prefixBlockTokens(),
                    settings.dispatch().withHeadroom(0, headroomWindow), settings.seed())), fair));
        }
        // each workload under the continuous engine model (labelled as the workload), then, if asked, under the legacy
        // static model (labelled workload + STATIC_SUFFIX)
        List<String> runs = new ArrayList<>();
        for (String model : switch (instanceModels) {
            case "both" -> List.of("continuous", "static");
            case "static", "continuous" -> List.of(instanceModels);
            default -> throw new IllegalArgumentException("--instance-model must be static, continuous or both, was "
                    + instanceModels);
        }) {
            for (String w : workloads) {
                runs.add(model.equals("static") ? w + STATIC_SUFFIX : w);
            }
        }
        out.printf(Locale.ROOT, "fair credits: %s%s; headroom: %d credit(s) per pool and %d idle "
                        + "instance(s) kept for work below its share, window %d ms%s%n", fairCredits ? "on (per instance, as "
                        + "many as the pool's sequence cap on top of its batch credits, for interactive work of tenants below "
                        + "their weighted share of the work in flight)" : "off",
                fairCredits ? " (rows '" + SERVER_DEFAULT + "', the server's default; rows '" + NO_FAIR_CREDITS
                        + "': the same without)" : " (rows '" + NO_FAIR_CREDITS + "': not the server's default)", headroom, headroomIdle,
                headroomWindow, headroom == 0 ? "" : " (rows 'fair-no-headroom': the same without)");
        out.printf(Locale.ROOT, "fleet %s serving %s (%d batch credits per instance); SLO TTFT ≤ %.1f s, TPOT ≤ %.0f ms; "
                        + "load %.1fx; tenants %s; service = %.0f × prompt + %.0f × output tokens; routing ect, prefix-aware, "
                        + "late jobs dropped at the worker; instance model: the continuous-batching engine (each batch "
                        + "credit one concurrent stream into its instance's engine, as the workers run) for workloads "
                        + "without a suffix, the legacy static model (one batch at a time per instance) for '…%s'; "
                        + "queue wait = arrival → batch submitted to an engine (the goal's metric), engine wait = "
                        + "submitted → admitted at an iteration boundary (the engine's part)%n",
                fleet, sim.settings().model(), sim.settings().dispatch().maxInFlightBatchesPerInstance(), sim.settings().ttftSloSeconds(), sim.settings().tpotSloSeconds() * 1000, load,
                tenants.stream().map(t -> t.name() + "(w" + fmt(t.weight()) + ", rate ×" + fmt(t.rate()) + ")").toList(),
                fair.prefillWeight(), fair.decodeWeight(), STATIC_SUFFIX);
        List<TenantRow> rows = new ArrayList<>();
        Map<String, Object> goals = new LinkedHashMap<>();
        for (String w : runs) {
            boolean continuous = !w.endsWith(STATIC_SUFFIX);
            String kind = continuous ? w : w.substring(0, w.length() - STATIC_SUFFIX.length());
            PolicySimulator msim = sim.withInstanceModel(modelOf(continuous));
            List<TraceRequest> base = switch (kind) {
                case "trace" -> TraceReader.read(tracePath != null ? Path.of(tracePath) : traces.resolve(TraceFiles.CONVERSATION),
                        traceFormat);
                case "synthetic" -> null;
                default -> throw new IllegalArgumentException("--workloads takes trace and/or synthetic, was " + kind);
            };
            Workload wl = workload(base, tenants, seconds, seed);
            List<TraceRequest> scaled = msim.scaleToLoad(wl.requests(), load);
            double span = Math.max(1, scaled.get(scaled.size() - 1).arrivalMs()) / 1000.0;
            long wall = System.nanoTime();
            List<PolicySimulator.TenantRun> variantRuns = new ArrayList<>();
            for (Variant v : variants) {
                PolicySimulator vs = v.sim().withInstanceModel(modelOf(continuous));
                variantRuns.add(vs.runTenants(scaled, wl.tenants(), v.fairness(), "ect", true, true));
            }
            PolicySimulator.TenantRun fairRun = variantRuns.get(0);
            PolicySimulator.TenantRun oldRun = msim.runTenants(scaled, wl.tenants(), FairnessConfig.oldestFirst()
                    .withTenantWeights(weights), "ect", true, true);
            Map<String, PolicySimulator.TenantRun> alone = new LinkedHashMap<>();
            for (Tenant t : tenants) {
                List<TraceRequest> own = new ArrayList<>();
                List<String> ownTenants = new ArrayList<>();
                for (int i = 0; i < scaled.size(); i++) {
                    if (wl.tenants().get(i).equals(t.name())) {
                        own.add(scaled.get(i));
                        ownTenants.add(t.name());
                    }
                }
                alone.put(t.name(), msim.runTenants(own, ownTenants, fair, "ect", true, true));
            }
            out.printf(Locale.ROOT, "%n== %s: %d requests over %.0f trace s (%s), fleet capacity %.2f jobs/s for this mix; "
                            + "simulated in %.1f s ==%n", w, scaled.size(), span, counts(wl, tenants),
                    msim.capacityJobsPerSecond(wl.requests()), (System.nanoTime() - wall) / 1e9);
            List<List<TenantRow>> variantRows = new ArrayList<>();
            for (int v = 0; v < variants.size(); v++) {
                variantRows.add(tenantRows(w, variants.get(v).mode(), variantRuns.get(v), tenants, fair, scaled, wl.tenants(), span));
            }
            List<TenantRow> fairRows = variantRows.get(0);
            List<TenantRow> oldRows = tenantRows(w, "oldest-first", oldRun, tenants, fair, scaled, wl.tenants(), span);
            List<TenantRow> aloneRows = new ArrayList<>();
            for (Tenant t : tenants) {
                PolicySimulator.TenantRun a = alone.get(t.name());
                aloneRows.add(tenantRows(w, "alone", a, List.of(t), fair, null, null, span).get(0));
            }
            header(out);
            for (int k = 0; k < tenants.size(); k++) {
                for (List<TenantRow> vr : variantRows) {
                    print(out, vr.get(k));
                }
                print(out, oldRows.get(k));
                print(out, aloneRows.get(k));
            }
            variantRows.forEach(rows::addAll);
            rows.addAll(oldRows);
            rows.addAll(aloneRows);
            double totalFair = fairRun.result().goodput();
            double totalOld = oldRun.result().goodput();
            out.printf(Locale.ROOT, "RATIO %s total goodput fair (%s) ÷ oldest-first %.3f (goal ≥ 0.95%s): fair %.3f/s, "
                            + "oldest-first %.3f/s%n", w, variants.get(0).mode(), totalFair / totalOld,
                    totalFair / totalOld >= 0.95 ? "" : ", MISSED", totalFair, totalOld);
            Map<String, Object> g = new LinkedHashMap<>();
            g.put("goodput_fair_over_oldest_first", totalFair / totalOld);
            for (int v = 1; v < variants.size(); v++) {
                String mode = variants.get(v).mode();
                double total0 = variantRuns.get(v).result().goodput();
                out.printf(Locale.ROOT, "RATIO %s total goodput %s ÷ oldest-first %.3f: %.3f/s%n", w, mode,
                        total0 / totalOld, total0);
                g.put("goodput_" + key(mode) + "_over_oldest_first", total0 / totalOld);
            }
            for (int k = 0; k < tenants.size(); k++) {
                Tenant t = tenants.get(k);
                if (t.name().equals(HEAVY)) {
                    continue;
                }
                TenantRow fr = fairRows.get(k);
                TenantRow or = oldRows.get(k);
                TenantRow al = aloneRows.get(k);
                double waitRatio = ratio(fr.p99Wait(), al.p99Wait());
                double oldWaitRatio = ratio(or.p99Wait(), al.p99Wait());
                out.printf(Locale.ROOT, "RATIO %s %s received ÷ fair share: fair %.2f, oldest-first %.2f (goal ≥ 0.90%s); "
                                + "p99 queue wait ÷ alone: fair %.2f, oldest-first %.2f (goal ≤ 1.5%s); goodput ÷ alone: fair %.2f, oldest-first %.2f%n",
                        w, t.name(), fr.ofFairShare(), or.ofFairShare(), fr.ofFairShare() >= 0.9 ? "" : ", MISSED", waitRatio,
                        oldWaitRatio, waitRatio <= 1.5 ? "" : ", MISSED", fr.goodput() / al.goodput(),
                        or.goodput() / al.goodput());
                g.put(t.name() + "_of_fair_share", fr.ofFairShare());
                g.put(t.name() + "_of_fair_share_oldest_first", or.ofFairShare());
                g.put(t.name() + "_p99_queue_wait_over_alone", waitRatio);
                g.put(t.name() + "_p99_queue_wait_over_alone_oldest_first", oldWaitRatio);
                double engineRatio = ratio(fr.p99EngineWait(), al.p99EngineWait());
                double admittedRatio = ratio(fr.p99Admitted(), al.p99Admitted());
                double ttftRatio = ratio(fr.p99Ttft(), al.p99Ttft());
                out.printf(Locale.ROOT, "RATIO %s %s p99 (s) fair / oldest-first / alone, ratio fair ÷ alone: queue wait "
                                + "%.3f / %.3f / %.3f (%.2f); engine admission wait %.3f / %.3f / %.3f (%.2f); arrival → "
                                + "admitted %.3f / %.3f / %.3f (%.2f); TTFT %.3f / %.3f / %.3f (%.2f)%n", w, t.name(),
                        fr.p99Wait(), or.p99Wait(), al.p99Wait(), waitRatio,
                        fr.p99EngineWait(), or.p99EngineWait(), al.p99EngineWait(), engineRatio,
                        fr.p99Admitted(), or.p99Admitted(), al.p99Admitted(), admittedRatio,
                        fr.p99Ttft(), or.p99Ttft(), al.p99Ttft(), ttftRatio);
                g.put(t.name() + "_p99_queue_wait_seconds", fr.p99Wait());
                g.put(t.name() + "_p99_queue_wait_seconds_alone", al.p99Wait());
                g.put(t.name() + "_p99_engine_wait_over_alone", engineRatio);
                g.put(t.name() + "_p99_admitted_over_alone", admittedRatio);
                g.put(t.name() + "_p99_ttft_over_alone", ttftRatio);
                for (int v = 1; v < variants.size(); v++) {
                    String mode = variants.get(v).mode();
                    TenantRow f0 = variantRows.get(v).get(k);
                    double wait0 = ratio(f0.p99Wait(), al.p99Wait());
                    out.printf(Locale.ROOT, "RATIO %s %s %s: received ÷ fair share %.2f; p99 queue wait ÷ alone %.2f (%.3f s); "
                                    + "p99 engine wait ÷ alone %.2f (%.3f s); p99 TTFT ÷ alone %.2f (%.3f s)%n", w, t.name(), mode,
                            f0.ofFairShare(), wait0, f0.p99Wait(), ratio(f0.p99EngineWait(), al.p99EngineWait()),
                            f0.p99EngineWait(), ratio(f0.p99Ttft(), al.p99Ttft()), f0.p99Ttft());
                    g.put(t.name() + "_of_fair_share_" + key(mode), f0.ofFairShare());
                    g.put(t.name() + "_p99_queue_wait_over_alone_" + key(mode), wait0);
                }
            }
            goals.put(w, g);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        Map<String, Object> setup = new LinkedHashMap<>();
        setup.put("fleet", fleet);
        setup.put("load", load);
        setup.put("seconds", seconds);
        setup.put("heavy_factor", heavyFactor);
        setup.put("tenants", tenants);
        setup.put("seed", seed);
        setup.put("credits_per_instance", sim.settings().dispatch().maxInFlightBatchesPerInstance());
        setup.put("fair_credits", fairCredits);
        setup.put("headroom_credits", headroom);
        setup.put("headroom_window_ms", headroomWindow);
        setup.put("headroom_idle_instances", headroomIdle);
        setup.put("instance_models", instanceModels);
        setup.put("fairness", fair);
        summary.put("setup", setup);
        summary.put("goals", goals);
        summary.put("rows", rows);
        Bench.writeJson(dir.resolve("summary.json"), summary);
        new io.inferq.loadtests.report.HtmlReport("inferq fair sharing between tenants").keyValues(setup)
                .preformatted(printed.toString(java.nio.charset.StandardCharsets.UTF_8)).write(dir.resolve("report.html"));
        out.println("report: " + dir.resolve("report.html").toAbsolutePath());
        return 0;
    }

    /** Requests in arrival order (times in an arbitrary unit, scaled later) and the tenant of each. */
    record Workload(List<TraceRequest> requests, List<String> tenants) {
    }

    /**
     * Poisson arrivals per tenant at its relative rate over {@code seconds} (before scaling to the load). From
     * {@code base} (a trace) when given, else synthetic (see the class comment).
     */
    static Workload workload(List<TraceRequest> base, List<Tenant> tenants, double seconds, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<TraceRequest> shortOnes = new ArrayList<>();
        List<TraceRequest> longOnes = new ArrayList<>();
        if (base != null) {
            int[] lengths = base.stream().mapToInt(TraceRequest::inputTokens).sorted().toArray();
            int median = lengths[lengths.length / 2];
            int p75 = lengths[lengths.length * 3 / 4];
            for (TraceRequest t : base) {
                if (t.inputTokens() <= median) {
                    shortOnes.add(t);
                }
                if (t.inputTokens() > p75) {
                    longOnes.add(t);
                }
            }
        }
        record Arrival(double at, int tenant, TraceRequest request) {
        }
        List<Arrival> arrivals = new ArrayList<>();
        double unitRate = 1.0; // requests per second of the rate-1 tenants before scaling
        for (int k = 0; k < tenants.size(); k++) {
            Tenant t = tenants.get(k);
            boolean heavy = t.name().equals(HEAVY);
            double rate = unitRate * t.rate();
            for (double at = -Math.log(1 - r.nextDouble()) / rate; at < seconds; at += -Math.log(1 - r.nextDouble()) / rate) {
                TraceRequest req;
                if (base != null) {
                    List<TraceRequest> pool = heavy ? longOnes : shortOnes;
                    TraceRequest p = pool.get(r.nextInt(pool.size()));
                    List<Long> salted = new ArrayList<>(p.blockHashes().size());
                    for (Long h : p.blockHashes()) {
                        salted.add(h * 31 + k + 1); // tenants never share cached prefixes (tenant cache salts)
                    }
                    req = new TraceRequest(0, p.inputTokens(), p.outputTokens(), salted);
                } else {
                    int prompt = (int) Math.max(16, Math.min(60_000, Math.round((heavy ? 6000 : 800) * Math.exp(0.6 * gauss(r)))));
                    int output = (int) Math.max(4, Math.min(2000, Math.round((heavy ? 300 : 200) * Math.exp(0.5 * gauss(r)))));
                    List<Long> hashes = new ArrayList<>();
                    long system = 1_000_000L * (k + 1) + r.nextInt(4);
                    hashes.add(system);
                    hashes.add(system * 7 + 1);
                    for (int b = 2; b < prompt / 512; b++) {
                        hashes.add(r.nextLong());
                    }
                    req = new TraceRequest(0, prompt, output, hashes);
                }
                arrivals.add(new Arrival(at, k, req));
            }
        }
        arrivals.sort((a, b) -> Double.compare(a.at(), b.at()));
        List<TraceRequest> requests = new ArrayList<>(arrivals.size());
        List<String> names = new ArrayList<>(arrivals.size());
        for (Arrival a : arrivals) {
            TraceRequest q = a.request();
            requests.add(new TraceRequest(Math.round(a.at() * 1000), q.inputTokens(), q.outputTokens(), q.blockHashes()));
            names.add(tenants.get(a.tenant()).name());
        }
        return new Workload(List.copyOf(requests), List.copyOf(names));
    }

    private static double gauss(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    /**
     * Per tenant figures of one run. {@code all}/{@code allTenants}: the whole workload (for demand); null for a run of
     * one tenant alone (demand = its own requests).
     */
    static List<TenantRow> tenantRows(String workload, String mode, PolicySimulator.TenantRun run, List<Tenant> tenants,
                                      FairnessConfig fair, List<TraceRequest> all, List<String> allTenants, double span) {
        Map<String, double[]> demand = new LinkedHashMap<>();
        tenants.forEach(t -> demand.put(t.name(), new double[1]));
        if (all == null) {
            for (PolicySimulator.JobRun j : run.jobs()) {
                demand.get(j.tenant())[0] += fair.serviceOf(j.promptTokens(), j.outputTokens());
            }
        } else {
            for (int i = 0; i < all.size(); i++) {
                double[] d = demand.get(allTenants.get(i));
                if (d != null) {
                    d[0] += fair.serviceOf(all.get(i).inputTokens(), all.get(i).outputTokens());
                }
            }
        }
        Map<String, Double> service = new LinkedHashMap<>();
        double total = 0;
        for (Tenant t : tenants) {
            double s = 0;
            for (PolicySimulator.JobRun j : run.jobs()) {
                if (j.tenant().equals(t.name()) && j.completed()) {
                    s += fair.serviceOf(j.promptTokens(), j.outputTokens());
                }
            }
            service.put(t.name(), s);
            total += s;
        }
        Map<String, Double> fairShares = fairShares(tenants, demand, total);
        List<TenantRow> out = new ArrayList<>();
        for (Tenant t : tenants) {
            List<Double> waits = new ArrayList<>();
            List<Double> engineWaits = new ArrayList<>();
            List<Double> admitted = new ArrayList<>();
            List<Double> ttfts = new ArrayList<>();
            int requests = 0;
            int completed = 0;
            int good = 0;
            for (PolicySimulator.JobRun j : run.jobs()) {
                if (!j.tenant().equals(t.name())) {
                    continue;
                }
                requests++;
                if (j.completed()) {
                    completed++;
                    waits.add(j.queueWaitSeconds());
                    engineWaits.add(Math.max(0, j.waitSeconds() - j.queueWaitSeconds())); // ≥ 0 up to rounding
                    admitted.add(j.waitSeconds());
                    ttfts.add(j.ttftSeconds());
                }
                good += j.good() ? 1 : 0;
            }
            double[] w = waits.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double s = service.get(t.name());
            double fs = fairShares.get(t.name());
            out.add(new TenantRow(workload, mode, t.name(), t.weight(), requests, completed, good, good / span, s,
                    total == 0 ? 0 : s / total, demand.get(t.name())[0], fs, fs == 0 ? Double.NaN : s / fs, pct(w, 0.5),
                    pct(w, 0.99), pct(sorted(engineWaits), 0.99), pct(sorted(admitted), 0.99), pct(sorted(ttfts), 0.99)));
        }
        return out;
    }

    /** Max-min fair shares by weight of {@code capacity} among demands (water-filling). */
    static Map<String, Double> fairShares(List<Tenant> tenants, Map<String, double[]> demand, double capacity) {
        List<Tenant> byNeed = new ArrayList<>(tenants);
        byNeed.sort((a, b) -> Double.compare(demand.get(a.name())[0] / a.weight(), demand.get(b.name())[0] / b.weight()));
        double left = capacity;
        double weights = tenants.stream().mapToDouble(Tenant::weight).sum();
        Map<String, Double> out = new LinkedHashMap<>();
        for (Tenant t : byNeed) {
            double share = Math.min(demand.get(t.name())[0], left * t.weight() / weights);
            out.put(t.name(), share);
            left -= share;
            weights -= t.weight();
        }
        return out;
    }

    private static String counts(Workload wl, List<Tenant> tenants) {
        Map<String, Integer> n = new LinkedHashMap<>();
        tenants.forEach(t -> n.put(t.name(), 0));
        wl.tenants().forEach(t -> n.merge(t, 1, Integer::sum));
        StringBuilder sb = new StringBuilder();
        n.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(' ').append(v));
        return sb.toString();
    }

    /** Columns: waits in seconds; p50/p99 queue, p99 engine (submitted → admitted), p99 admitted, p99 TTFT. */
    private static void header(PrintStream out) {
        out.printf(Locale.ROOT, "%-8s %-20s %6s %6s %6s %9s %12s %6s %6s %8s %8s %8s %8s %8s%n", "tenant", "mode", "jobs",
                "ran", "good", "goodput/s", "service tok", "share", "÷fair", "p50queue", "p99queue", "p99engin",
                "p99admit", "p99TTFT");
    }

    private static void print(PrintStream out, TenantRow r) {
        out.printf(Locale.ROOT, "%-8s %-20s %6d %6d %6d %9.3f %12.3e %5.1f%% %6.2f %8.3f %8.3f %8.3f %8.3f %8.3f%n",
                r.tenant(), r.mode(), r.requests(), r.completed(), r.good(), r.goodput(), r.service(), r.share() * 100,
                r.ofFairShare(), r.p50Wait(), r.p99Wait(), r.p99EngineWait(), r.p99Admitted(), r.p99Ttft());
    }

    /** A mode as a summary key: {@code fair-no-headroom} → {@code no_headroom}. */
    private static String key(String mode) {
        return mode.replaceFirst("^fair-", "").replace('-', '_');
    }

    private static double[] sorted(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    }

    private static double pct(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** The instance model of a run, always stated (the simulator's default is not assumed). */
    private static PolicySimulator.InstanceModel modelOf(boolean continuous) {
        return continuous ? PolicySimulator.InstanceModel.CONTINUOUS : PolicySimulator.InstanceModel.STATIC;
    }
}
