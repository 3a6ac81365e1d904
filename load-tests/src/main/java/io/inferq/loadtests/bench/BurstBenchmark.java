package io.inferq.loadtests.bench;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.HtmlReport;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.loadtests.report.Stats;
import io.inferq.loadtests.report.Svg;
import io.inferq.server.InferqServer;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Burst absorption: a slice of the Azure trace around its busiest 10 s, time-compressed so that burst's
 * arrival rate is {@code --peak} × the fleet's capacity, replayed side by side against
 * <ol>
 *   <li>a queue-less provider ({@link QueuelessProvider}) with the same capacity, answering 503 when full, and</li>
 *   <li>in-process inferq with the policy simulator's fleet at the same time-scale (the queue absorbs the burst).</li>
 * </ol>
 * Prints the fraction of requests that got a busy error in each, whether every accepted job finished, and
 * inferq's tail latency (trace seconds).
 */
public final class BurstBenchmark {
    private BurstBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        io.inferq.loadtests.TraceFiles.TraceInput input = io.inferq.loadtests.TraceFiles.input(f, "trace", io.inferq.loadtests.TraceFiles.AZURE);
        Path trace = input.path();
        double peak = f.positive("peak", 3);
        // < 1 (slow motion): at 3x the fleet's capacity the burst is ~400 requests per trace second, more than one
        // client and the ingress on a 2-core machine send; 0.2 makes it ~80 per wall second
        double timeScale = f.positive("time-scale", 0.2);
        int maxRequests = f.intValue("max-requests", 4500);
        double before = f.doubleValue("before-s", 2);
        double maxWall = f.positive("max-duration-s", 600);
        double drain = f.positive("drain-timeout-s", 900);
        Path dir = LoadCommand.outDir(f, "bench-burst");
        f.rejectUnknown();
        PolicySimulator.Settings settings = PolicySimulator.Settings.defaults();
        PolicySimulator sim = new PolicySimulator(settings);
        List<TraceRequest> all = input.read();
        double capacity = sim.capacityJobsPerSecond(all);
        long busiest = ReplayPlan.busiestWindowStart(all, 10_000);
        int inBusiest = (int) all.stream().filter(t -> t.arrivalMs() >= busiest && t.arrivalMs() < busiest + 10_000).count();
        double peakRate = inBusiest / 10.0;
        double compress = peak * capacity / peakRate; // >1: the trace is replayed faster than recorded
        List<TraceRequest> scaled = new ArrayList<>(all.size());
        all.forEach(t -> scaled.add(new TraceRequest(Math.round(t.arrivalMs() / compress), t.inputTokens(), t.outputTokens(), t.blockHashes())));
        long from = Math.max(0, Math.round((busiest - before * 1000) / compress));
        ReplayPlan plan = ReplayPlan.of(scaled, from, Long.MAX_VALUE, 1.0, maxRequests, 42);
        out.printf(Locale.ROOT, "Azure trace: busiest 10 s at %.0f s has %d requests (%.1f/s, %.1fx the mean); fleet capacity %.2f jobs/s "
                        + "→ trace compressed %.2fx so the burst peaks at %.1fx capacity; slice: %d requests over %.1f trace s, time-scale %.0f%n",
                busiest / 1000.0, inBusiest, peakRate, peakRate / (all.size() / (all.get(all.size() - 1).arrivalMs() / 1000.0)),
                capacity, compress, peak, plan.items().size(), plan.spanMs() / 1000.0, timeScale);

        // the provider's slots and service times: same saturated throughput as the fleet
        int slots = settings.pools().stream().mapToInt(p -> p.instances() * p.maxSequences()).sum();
        RooflineModel ref = RooflineModel.of(ChipCatalogue.builtIn().get(settings.pools().get(0).chipId()), 1,
                ModelCatalogue.builtIn().get(settings.model()));
        double meanCost = all.stream().mapToDouble(t -> cost(ref, t.inputTokens(), t.outputTokens())).average().orElse(1);
        double perSlotSeconds = slots / capacity;
        Replayer.Settings s = new Replayer.Settings(timeScale, settings.model(), 512, maxWall, drain, 10, 500);
        Replayer.Result base;
        try (QueuelessProvider provider = new QueuelessProvider(slots, timeScale,
                (in, o) -> perSlotSeconds * cost(ref, in, o) / meanCost)) {
            out.printf(Locale.ROOT, "-- queue-less provider: %d slots, mean service %.2f s, 503 when full --%n", slots, perSlotSeconds);
            base = Replayer.run(plan, s, provider, provider, null, out);
        }
        Replayer.Result here;
        out.println("-- inferq (in-process, simulator fleet) --");
        try (InferqServer server = EmbeddedInferq.start(EmbeddedInferq.Options.defaults().timeScale(timeScale)
                .fleet(EmbeddedInferq.Fleet.SIMULATOR))) {
            String url = "http://127.0.0.1:" + server.httpPort();
            try (ResultFollower t = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null)) {
                here = Replayer.run(plan, s, target, t, url, out);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("command", "bench-burst");
        m.put("peak_x_capacity", peak);
        m.put("requests", plan.items().size());
        m.put("time_scale", timeScale);
        m.put("baseline_busy", busy(base));
        m.put("baseline_busy_fraction", ReplayReport.round(busy(base) / (double) base.outcomes().size()));
        m.put("inferq_busy_429_503", busy(here));
        m.put("inferq_busy_fraction", ReplayReport.round(busy(here) / (double) here.outcomes().size()));
        long acc = here.outcomes().stream().filter(JobOutcome::accepted).count();
        long ok = here.outcomes().stream().filter(o -> "succeeded".equals(o.status)).count();
        m.put("inferq_accepted", acc);
        m.put("inferq_succeeded", ok);
        m.put("inferq_accepted_not_succeeded", acc - ok);
        double[] e2e = here.outcomes().stream().filter(JobOutcome::finished).mapToDouble(o -> o.e2eSeconds() * timeScale).toArray();
        double[] ttft = here.outcomes().stream().filter(JobOutcome::finished).mapToDouble(o -> o.ttftSeconds() * timeScale).toArray();
        double[] baseE2e = base.outcomes().stream().filter(JobOutcome::finished).mapToDouble(o -> o.e2eSeconds() * timeScale).toArray();
        m.put("inferq_e2e_trace_s_p50", ReplayReport.round(Stats.pct(e2e, 0.5)));
        m.put("inferq_e2e_trace_s_p99", ReplayReport.round(Stats.pct(e2e, 0.99)));
        m.put("inferq_ttft_trace_s_p99", ReplayReport.round(Stats.pct(ttft, 0.99)));
        m.put("baseline_e2e_trace_s_p99_of_served", ReplayReport.round(Stats.pct(baseE2e, 0.99)));
        out.println();
        out.printf(Locale.ROOT, "RATIO busy errors: queue-less provider %.1f%% of requests vs inferq %.1f%%%n",
                100.0 * busy(base) / base.outcomes().size(), 100.0 * busy(here) / here.outcomes().size());
        out.printf(Locale.ROOT, "inferq: %d accepted, %d succeeded, %d accepted but not succeeded (lost/failed)%n", acc, ok, acc - ok);
        out.printf(Locale.ROOT, "inferq tail latency (trace s): e2e p50 %.1f p99 %.1f, TTFT p99 %.1f  (provider p99 of the requests it served: %.1f)%n",
                Stats.pct(e2e, 0.5), Stats.pct(e2e, 0.99), Stats.pct(ttft, 0.99), Stats.pct(baseE2e, 0.99));
        Bench.writeJson(dir.resolve("summary.json"), m);
        HtmlReport h = new HtmlReport("inferq burst absorption vs a queue-less provider");
        h.keyValues(m);
        h.chart(Svg.chart("cdf-e2e", "End-to-end latency CDF (trace seconds)", "seconds", "fraction", List.of(
                Svg.cdf("inferq", e2e), Svg.cdf("provider (served only)", baseE2e))));
        h.heading("inferq run");
        ReplayReport.addCharts(h, here);
        h.write(dir.resolve("report.html"));
        out.println("report: " + dir.resolve("report.html").toAbsolutePath());
        return 0;
    }

    static double cost(RooflineModel r, int in, int out) {
        return r.estimateBatch(List.of(new SequenceShape(in, 0, Math.max(1, out)))).totalSeconds();
    }

    static long busy(Replayer.Result r) {
        return r.outcomes().stream().filter(o -> o.submitStatus == 429 || o.submitStatus == 503).count();
    }
}
