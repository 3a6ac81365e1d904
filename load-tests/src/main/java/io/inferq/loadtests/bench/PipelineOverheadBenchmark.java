package io.inferq.loadtests.bench;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.HtmlReport;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.loadtests.report.Stats;
import io.inferq.loadtests.report.Svg;
import io.inferq.server.InferqServer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Pipeline overhead: raw Kafka produce+consume vs the full inferq pipeline (HTTP submit → dispatcher → worker
 * → result on {@code inferq.results}) with simulated pools at a huge time-scale (the backend answers
 * instantly), on the same embedded broker, in one run. Prints jobs/s ÷ raw records/s, and the p50/p99 latency
 * of each at half its own saturation rate, as ratios.
 */
public final class PipelineOverheadBenchmark {
    private PipelineOverheadBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        int records = f.intValue("records", 5000);
        double latencySeconds = f.positive("latency-seconds", 10);
        double timeScale = f.positive("time-scale", 1e6);
        int promptTokens = f.intValue("prompt-tokens", 64);
        int inFlight = f.intValue("max-in-flight", 256);
        Path dir = LoadCommand.outDir(f, "bench-overhead");
        f.rejectUnknown();
        String model = "deepseek-v2-lite";
        String prompt = PromptText.build(promptTokens, List.of(), 0, 1);
        int recordBytes = new AvroSerde<>(JobRequest.class).encode(JobRequest.newBuilder().setJobId("job_" + "0".repeat(32))
                .setTenant("default").setModel(model).setMessages(List.of(new ChatMessage("user", prompt))).setMaxTokens(1)
                .setPromptTokens(promptTokens).setSubmittedAtMs(System.currentTimeMillis()).build()).length;
        out.printf(Locale.ROOT, "starting in-process inferq (simulated pools at time-scale %.0g)...%n", timeScale);
        try (InferqServer server = EmbeddedInferq.start(EmbeddedInferq.Options.defaults().timeScale(timeScale))) {
            String url = "http://127.0.0.1:" + server.httpPort();
            // 1. raw Kafka: saturation, then latency at half of it
            double rawRate;
            double[] rawLat;
            try (RawKafkaProbe raw = new RawKafkaProbe(server.kafkaBootstrapServers(), 3, recordBytes)) {
                raw.saturate(Math.min(records, 2000)); // warm-up
                rawRate = raw.saturate(records);
                out.printf(Locale.ROOT, "raw Kafka: %d records of %d bytes: %.0f records/s%n", records, recordBytes, rawRate);
                rawLat = raw.latencies(rawRate / 2, latencySeconds);
                out.printf(Locale.ROOT, "raw Kafka at %.0f records/s: p50 %.2f ms, p99 %.2f ms%n", rawRate / 2,
                        Stats.pct(rawLat, 0.5) * 1000, Stats.pct(rawLat, 0.99) * 1000);
            }
            // 2. the pipeline: saturation (all submitted at once, bounded in flight), then latency at half of it
            Replayer.Settings s = new Replayer.Settings(1.0, model, inFlight, 600, 120, 5, 500);
            pipeline(url, server, s, burstPlan(Math.min(records, 2000), promptTokens), out); // warm-up (JIT)
            Replayer.Result sat = pipeline(url, server, s, burstPlan(records, promptTokens), out);
            double jobRate = finished(sat) / span(sat);
            out.printf(Locale.ROOT, "pipeline: %d jobs: %.0f jobs/s%n", records, jobRate);
            Replayer.Result paced = pipeline(url, server, s, pacedPlan(jobRate / 2, latencySeconds, promptTokens), out);
            double[] jobLat = paced.outcomes().stream().filter(JobOutcome::finished).mapToDouble(JobOutcome::e2eSeconds).toArray();
            out.printf(Locale.ROOT, "pipeline at %.0f jobs/s: p50 %.2f ms, p99 %.2f ms%n", jobRate / 2,
                    Stats.pct(jobLat, 0.5) * 1000, Stats.pct(jobLat, 0.99) * 1000);

            double thrRatio = jobRate / rawRate;
            double p50Ratio = Stats.pct(jobLat, 0.5) / Stats.pct(rawLat, 0.5);
            double p99Ratio = Stats.pct(jobLat, 0.99) / Stats.pct(rawLat, 0.99);
            out.println();
            out.printf(Locale.ROOT, "RATIO throughput  jobs/s ÷ raw records/s = %.3f   (target ≥ 0.15; a job is ~5 Kafka records)%n", thrRatio);
            out.printf(Locale.ROOT, "RATIO latency p50 pipeline ÷ raw hop      = %.2f   (target ≤ 5)%n", p50Ratio);
            out.printf(Locale.ROOT, "RATIO latency p99 pipeline ÷ raw hop      = %.2f   (target ≤ 5)%n", p99Ratio);
            long lost = sat.outcomes().stream().filter(o -> o.accepted() && !o.finished()).count()
                    + paced.outcomes().stream().filter(o -> o.accepted() && !o.finished()).count();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("command", "bench-overhead");
            m.put("record_bytes", recordBytes);
            m.put("records", records);
            m.put("raw_records_per_s", ReplayReport.round(rawRate));
            m.put("raw_p50_ms", ReplayReport.round(Stats.pct(rawLat, 0.5) * 1000));
            m.put("raw_p99_ms", ReplayReport.round(Stats.pct(rawLat, 0.99) * 1000));
            m.put("pipeline_jobs_per_s", ReplayReport.round(jobRate));
            m.put("pipeline_rejected", sat.outcomes().stream().filter(o -> !o.accepted()).count());
            m.put("pipeline_p50_ms", ReplayReport.round(Stats.pct(jobLat, 0.5) * 1000));
            m.put("pipeline_p99_ms", ReplayReport.round(Stats.pct(jobLat, 0.99) * 1000));
            m.put("accepted_not_finished", lost);
            m.put("ratio_throughput", ReplayReport.round(thrRatio));
            m.put("ratio_latency_p50", ReplayReport.round(p50Ratio));
            m.put("ratio_latency_p99", ReplayReport.round(p99Ratio));
            HtmlReport h = new HtmlReport("inferq pipeline overhead vs raw Kafka");
            h.keyValues(m);
            h.chart(Svg.chart("cdf-latency", "Latency CDF at half saturation", "milliseconds", "fraction", List.of(
                    Svg.cdf("raw Kafka hop", java.util.Arrays.stream(rawLat).map(x -> x * 1000).toArray()),
                    Svg.cdf("inferq job", java.util.Arrays.stream(jobLat).map(x -> x * 1000).toArray()))));
            ReplayReport.addCharts(h, paced);
            Bench.writeJson(dir.resolve("summary.json"), m);
            h.write(dir.resolve("report.html"));
            out.println("report: " + dir.resolve("report.html").toAbsolutePath());
            return 0;
        } catch (Exception e) {
            throw new IllegalStateException("overhead benchmark failed: " + e, e);
        }
    }

    private static Replayer.Result pipeline(String url, InferqServer server, Replayer.Settings s, ReplayPlan plan, PrintStream out) {
        try (ResultFollower tracker = new ResultFollower(server.kafkaBootstrapServers()); HttpTarget target = new HttpTarget(url, null)) {
            return Replayer.run(plan, s, target, tracker, url, out);
        }
    }

    static ReplayPlan burstPlan(int n, int promptTokens) {
        List<TraceRequest> t = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            t.add(new TraceRequest(0, promptTokens, 1, List.of()));
        }
        return ReplayPlan.of(t, 0, Long.MAX_VALUE, 1.0, n, 1);
    }

    static ReplayPlan pacedPlan(double rate, double seconds, int promptTokens) {
        int n = Math.max(1, (int) (rate * seconds));
        List<TraceRequest> t = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            t.add(new TraceRequest(Math.round(i * 1000.0 / rate), promptTokens, 1, List.of()));
        }
        return ReplayPlan.of(t, 0, Long.MAX_VALUE, 1.0, n, 1);
    }

    static long finished(Replayer.Result r) {
        return r.outcomes().stream().filter(JobOutcome::finished).count();
    }

    /** Seconds from the first send to the last terminal state seen. */
    static double span(Replayer.Result r) {
        long first = r.outcomes().stream().mapToLong(o -> o.sentNanos).min().orElse(0);
        long last = r.outcomes().stream().filter(JobOutcome::finished).mapToLong(o -> o.seenNanos).max().orElse(first + 1);
        return Math.max(1e-9, (last - first) / 1e9);
    }
}
