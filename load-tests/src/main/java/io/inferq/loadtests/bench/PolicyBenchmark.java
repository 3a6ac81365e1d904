package io.inferq.loadtests.bench;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.HtmlReport;
import io.inferq.loadtests.report.MetricsSampler;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.loadtests.report.Stats;
import io.inferq.loadtests.report.Svg;
import io.inferq.server.InferqServer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Routing policies on the real traces, side by side in one run:
 * <ol>
 *   <li>the {@link PolicySimulator} (virtual time, the real scheduler and policies, whole traces) at each load;</li>
 *   <li>the real pipeline — in-process inferq with the simulator's fleet at a time-scale, one server per
 *       policy ({@code dispatcher.policy}) — on a short slice of each trace at one load.</li>
 * </ol>
 * Loads are multiples of the fleet's capacity ({@link PolicySimulator#scaleToLoad}). Pipeline latencies are
 * converted to trace seconds (× time-scale) and judged against the simulator's SLOs. Prints goodput, p50/p99
 * TTFT, utilisation per pool (chip kind), and the ratio default (estimated-completion) ÷ round-robin.
 */
public final class PolicyBenchmark {
    static final List<String> POLICIES = List.of("estimated-completion", "round-robin", "least-loaded", "random");

    private PolicyBenchmark() {
    }

    /** One row of the table. */
    record Row(String engine, String trace, double load, String policy, int jobs, int good, double goodput, double p50Ttft,
               double p99Ttft, Map<String, Double> utilisation, String note) {
    }

    public static int run(Flags f, PrintStream out) {
        Path traces = Path.of(f.string("traces", io.inferq.loadtests.TraceFiles.defaultDir().toString()));
        double[] loads = Arrays.stream(f.string("loads", "0.5,1,2").split(",")).mapToDouble(Double::parseDouble).toArray();
        double pipelineLoad = f.positive("pipeline-load", 2);
        int pipelineRequests = f.intValue("pipeline-requests", 120);
        // < 1 (slow motion): at 2x capacity the traces arrive faster than one client + ingress on 2 cores can send at higher scales
        double timeScale = f.positive("time-scale", 0.25);
        boolean pipeline = !f.bool("no-pipeline");
        List<String> policies = List.of(f.string("policies", String.join(",", POLICIES)).split(","));
        Path dir = LoadCommand.outDir(f, "bench-policies");
        f.rejectUnknown();
        PolicySimulator.Settings settings = PolicySimulator.Settings.defaults();
        PolicySimulator sim = new PolicySimulator(settings);
        Map<String, List<TraceRequest>> byTrace = new LinkedHashMap<>();
        byTrace.put("conversation", TraceReader.read(traces.resolve("conversation_trace.jsonl")));
        byTrace.put("azure-conv", TraceReader.read(traces.resolve("AzureLLMInferenceTrace_conv.csv")));
        List<Row> rows = new ArrayList<>();
        out.printf(Locale.ROOT, "fleet %s serving %s; SLO TTFT ≤ %.1f s, TPOT ≤ %.0f ms%n",
                settings.pools().stream().map(p -> p.instances() + "×" + p.chipId()).toList(), settings.model(),
                settings.ttftSloSeconds(), settings.tpotSloSeconds() * 1000);
        out.println("== policy simulator (virtual time, whole traces) ==");
        header(out);
        for (var e : byTrace.entrySet()) {
            for (double load : loads) {
                List<TraceRequest> scaled = sim.scaleToLoad(e.getValue(), load);
                for (String p : policies) {
                    PolicySimulator.Result r = sim.run(scaled, simName(p), true);
                    Row row = new Row("simulator", e.getKey(), load, p, r.jobs(), r.good(), r.goodput(), r.p50Ttft(), r.p99Ttft(),
                            r.utilisation(), "rej " + r.rejected() + " exp " + r.expired());
                    rows.add(row);
                    print(out, row);
                }
                ratio(out, rows, "simulator", e.getKey(), load);
            }
        }
        if (pipeline) {
            out.printf(Locale.ROOT, "== real pipeline (in-process inferq, time-scale %.0f, first %d requests at %.1fx capacity) ==%n",
                    timeScale, pipelineRequests, pipelineLoad);
            for (String p : policies) {
                out.printf(Locale.ROOT, "starting inferq with dispatcher.policy=%s...%n", p);
                try (InferqServer server = EmbeddedInferq.start(EmbeddedInferq.Options.defaults().timeScale(timeScale).policy(p)
                        .fleet(EmbeddedInferq.Fleet.SIMULATOR))) {
                    String url = "http://127.0.0.1:" + server.httpPort();
                    for (var e : byTrace.entrySet()) {
                        ReplayPlan plan = ReplayPlan.of(sim.scaleToLoad(e.getValue(), pipelineLoad), 0, Long.MAX_VALUE, 1.0,
                                pipelineRequests, 42);
                        Replayer.Settings s = new Replayer.Settings(timeScale, settings.model(), 256, 300, 180, 10, 500);
                        Replayer.Result r;
                        try (ResultFollower t = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null)) {
                            r = Replayer.run(plan, s, target, t, url, out);
                        }
                        Row row = pipelineRow(e.getKey(), pipelineLoad, p, plan, r, timeScale, settings);
                        rows.add(row);
                    }
                }
            }
            header(out);
            rows.stream().filter(r -> r.engine().equals("pipeline")).forEach(r -> print(out, r));
            for (String t : byTrace.keySet()) {
                ratio(out, rows, "pipeline", t, pipelineLoad);
            }
        }
        Bench.writeJson(dir.resolve("summary.json"), rows);
        HtmlReport h = new HtmlReport("inferq routing policies on real traces");
        List<List<String>> table = new ArrayList<>();
        for (Row r : rows) {
            table.add(List.of(r.engine(), r.trace(), r.load() + "x", r.policy(), Integer.toString(r.jobs()), Integer.toString(r.good()),
                    String.format(Locale.ROOT, "%.3f", r.goodput()), String.format(Locale.ROOT, "%.2f", r.p50Ttft()),
                    String.format(Locale.ROOT, "%.2f", r.p99Ttft()), util(r.utilisation()), r.note()));
        }
        h.table(List.of("engine", "trace", "load", "policy", "jobs", "good", "goodput/s", "p50 TTFT s", "p99 TTFT s", "utilisation", "note"), table);
        for (String t : byTrace.keySet()) {
            List<Svg.Series> series = new ArrayList<>();
            for (String p : policies) {
                List<Row> rs = rows.stream().filter(r -> r.engine().equals("simulator") && r.trace().equals(t) && r.policy().equals(p)).toList();
                series.add(new Svg.Series(p, rs.stream().mapToDouble(Row::load).toArray(), rs.stream().mapToDouble(Row::goodput).toArray()));
            }
            h.chart(Svg.chart("goodput", "Goodput vs load — " + t + " (simulator)", "load (× capacity)", "good jobs / s", series));
        }
        h.write(dir.resolve("report.html"));
        out.println("report: " + dir.resolve("report.html").toAbsolutePath());
        return 0;
    }

    static String simName(String policy) {
        return policy.equals("estimated-completion") ? "ect" : policy;
    }

    static Row pipelineRow(String trace, double load, String policy, ReplayPlan plan, Replayer.Result r, double timeScale,
            PolicySimulator.Settings s) {
        List<JobOutcome> done = r.outcomes().stream().filter(o -> "succeeded".equals(o.status)).toList();
        double[] ttft = done.stream().mapToDouble(o -> o.ttftSeconds() * timeScale).toArray();
        int good = (int) done.stream().filter(o -> o.ttftSeconds() * timeScale <= s.ttftSloSeconds()
                && o.tpotSeconds() * timeScale <= s.tpotSloSeconds()).count();
        double span = Math.max(1, plan.spanMs()) / 1000.0;
        Map<String, Double> util = new LinkedHashMap<>();
        List<MetricsSampler.Sample> ss = r.samples();
        ss.forEach(x -> x.poolUtilisation().keySet().forEach(k -> util.putIfAbsent(k, 0.0)));
        util.replaceAll((k, v) -> ss.stream().mapToDouble(x -> x.poolUtilisation().getOrDefault(k, Double.NaN))
                .filter(d -> !Double.isNaN(d)).average().orElse(Double.NaN));
        long rejected = r.outcomes().stream().filter(o -> !o.accepted()).count();
        long unfinished = r.outcomes().stream().filter(o -> o.accepted() && !o.finished()).count();
        return new Row("pipeline", trace, load, policy, r.outcomes().size(), good, good / span, Stats.pct(ttft, 0.5),
                Stats.pct(ttft, 0.99), util, "rej " + rejected + " unfinished " + unfinished + " clamped " + r.clamped());
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
            out.printf(Locale.ROOT, "RATIO %s %s %.1fx: goodput default(estimated-completion) ÷ round-robin = %s%n", engine, trace, load,
                    rr.goodput() == 0 ? (ect.goodput() == 0 ? "n/a (both 0)" : "inf (round-robin 0)")
                            : String.format(Locale.ROOT, "%.2f", ect.goodput() / rr.goodput()));
        }
    }

    private static Row find(List<Row> rows, String engine, String trace, double load, String policy) {
        return rows.stream().filter(r -> r.engine().equals(engine) && r.trace().equals(trace) && r.load() == load
                && r.policy().equals(policy)).findFirst().orElse(null);
    }

    private static String util(Map<String, Double> u) {
        StringBuilder sb = new StringBuilder();
        u.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "%s=%.0f%% ", k, v * 100)));
        return sb.toString().trim();
    }
}
