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
    /** Raw saturation runs; the median is the baseline (single runs of a few seconds varied up to 3× here). */
    static final int RAW_RUNS = 3;
    private PipelineOverheadBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        int records = f.intValue("records", 5000);
        int warmup = f.intValue("warmup", records);
        double latencySeconds = f.positive("latency-seconds", 10);
        double timeScale = f.positive("time-scale", 1e6);
        int promptTokens = f.intValue("prompt-tokens", 64);
        int inFlight = f.intValue("max-in-flight", 256);
        double latencyRate = f.doubleValue("latency-rate", 0);
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
            double rawCpuMs;
            double[] rawLat;
            BrokerTopicTraffic rawTraffic;
            try (RawKafkaProbe raw = new RawKafkaProbe(server.kafkaBootstrapServers(), 3, recordBytes)) {
                raw.saturate(Math.max(1, warmup)); // warm-up
                BrokerTopicTraffic rawTraffic0 = BrokerTopicTraffic.snapshot();
                long cpu0 = processCpuNanos();
                double[] rates = new double[RAW_RUNS];
                for (int i = 0; i < RAW_RUNS; i++) {
                    rates[i] = raw.saturate(records);
                }
                rawCpuMs = (processCpuNanos() - cpu0) / 1e6 / ((long) records * RAW_RUNS);
                rawTraffic = BrokerTopicTraffic.snapshot().since(rawTraffic0);
                rawRate = Stats.pct(rates, 0.5);
                out.printf(Locale.ROOT, "raw Kafka: %d records of %d bytes, median of %d runs: %.0f records/s (runs: %s), %.3f CPU ms per record%n",
                        records, recordBytes, RAW_RUNS, rawRate, java.util.Arrays.stream(rates).mapToObj(r -> String.format(Locale.ROOT, "%.0f", r))
                                .collect(java.util.stream.Collectors.joining(", ")), rawCpuMs);
                rawLat = raw.latencies(rawRate / 2, latencySeconds);
                out.printf(Locale.ROOT, "raw Kafka at %.0f records/s: p50 %.2f ms, p99 %.2f ms%n", rawRate / 2,
                        Stats.pct(rawLat, 0.5) * 1000, Stats.pct(rawLat, 0.99) * 1000);
            }
            // 2. the pipeline: saturation (all submitted at once, bounded in flight), then latency at half of it
            Replayer.Settings s = new Replayer.Settings(1.0, model, inFlight, 600, 120, 5, 500);
            if (warmup > 0) {
                pipeline(url, server, s, burstPlan(warmup, promptTokens), out); // warm-up: JIT, caches, connections
            }
            Map<String, Long> requests0 = brokerRequestCounts();
            BrokerTopicTraffic traffic0 = BrokerTopicTraffic.snapshot();
            var threads0 = ThreadCpuBreakdown.snapshot();
            long cpu0 = processCpuNanos();
            Replayer.Result sat = pipeline(url, server, s, burstPlan(records, promptTokens), out);
            double jobCpuMs = (processCpuNanos() - cpu0) / 1e6 / Math.max(1, finished(sat));
            BrokerTopicTraffic jobTraffic = BrokerTopicTraffic.snapshot().since(traffic0);
            double jobRate = finished(sat) / span(sat);
            out.printf(Locale.ROOT, "pipeline: %d jobs: %.0f jobs/s, %.3f CPU ms per job%n", records, jobRate, jobCpuMs);
            Map<String, Double> requestsPerJob = perJob(requests0, brokerRequestCounts(), finished(sat));
            out.printf(Locale.ROOT, "broker requests per job: %s%n", requestsPerJob);
            long rawRecords = (long) records * RAW_RUNS;
            double rawOps = (rawTraffic.recordsWritten() + rawTraffic.recordsRead()) / (double) rawRecords;
            double jobOps = (jobTraffic.recordsWritten() + jobTraffic.recordsRead()) / (double) Math.max(1, finished(sat));
            double kafkaBound = jobOps > 0 ? rawOps / jobOps : Double.NaN;
            out.printf(Locale.ROOT, "Kafka records per raw record: written %.2f, read %.2f%n",
                    rawTraffic.recordsWritten() / (double) rawRecords, rawTraffic.recordsRead() / rawRecords);
            out.printf(Locale.ROOT, "Kafka records per job: written %.2f, read %.2f; by topic (written / read): %s%n",
                    jobTraffic.recordsWritten() / (double) Math.max(1, finished(sat)),
                    jobTraffic.recordsRead() / Math.max(1, finished(sat)), jobTraffic.perUnit(finished(sat)));
            Map<String, Double> cpuByComponent = ThreadCpuBreakdown.between(threads0, ThreadCpuBreakdown.snapshot(), finished(sat));
            out.printf(Locale.ROOT, "CPU ms per job by component: %s%n", cpuByComponent);
            double pacedRate = latencyRate > 0 ? latencyRate : jobRate / 2;
            Replayer.Result paced = pipeline(url, server, s, pacedPlan(pacedRate, latencySeconds, promptTokens), out);
            double[] jobLat = paced.outcomes().stream().filter(JobOutcome::finished).mapToDouble(JobOutcome::e2eSeconds).toArray();
            out.printf(Locale.ROOT, "pipeline at %.0f jobs/s: p50 %.2f ms, p99 %.2f ms%n", pacedRate,
                    Stats.pct(jobLat, 0.5) * 1000, Stats.pct(jobLat, 0.99) * 1000);
            Map<String, String> stages = stageLatencies(paced);
            out.printf(Locale.ROOT, "pipeline latency by stage (p50 / p99 ms): %s%n", stages);

            double thrRatio = jobRate / rawRate;
            double p50Ratio = Stats.pct(jobLat, 0.5) / Stats.pct(rawLat, 0.5);
            double p99Ratio = Stats.pct(jobLat, 0.99) / Stats.pct(rawLat, 0.99);
            out.println();
            out.printf(Locale.ROOT, "RATIO throughput  jobs/s ÷ raw records/s = %.3f   (target ≥ 0.15; a job is ~5 Kafka records)%n", thrRatio);
            out.printf(Locale.ROOT, "RATIO latency p50 pipeline ÷ raw hop      = %.2f   (target ≤ 5)%n", p50Ratio);
            out.printf(Locale.ROOT, "RATIO latency p99 pipeline ÷ raw hop      = %.2f   (target ≤ 5)%n", p99Ratio);
            out.printf(Locale.ROOT, "RATIO CPU per job ÷ CPU per raw record    = %.1f   (whole process: broker, Hazelcast, inferq and the load "
                    + "generator; less noisy than rates on a shared machine)%n", jobCpuMs / rawCpuMs);
            out.printf(Locale.ROOT, "BOUND throughput from Kafka records alone = %.3f   (records written + read per raw record ÷ per job: "
                    + "the ratio if each of a job's records cost what a raw record costs and nothing else cost anything)%n", kafkaBound);
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
            m.put("broker_requests_per_job", requestsPerJob);
            m.put("kafka_records_written_per_job", ReplayReport.round(jobTraffic.recordsWritten() / (double) Math.max(1, finished(sat))));
            m.put("kafka_records_read_per_job", ReplayReport.round(jobTraffic.recordsRead() / Math.max(1, finished(sat))));
            m.put("kafka_records_per_job_by_topic_written_read", jobTraffic.perUnit(finished(sat)));
            m.put("kafka_records_written_read_per_raw_record", ReplayReport.round(rawOps));
            m.put("bound_throughput_kafka_records_alone", ReplayReport.round(kafkaBound));
            m.put("latency_by_stage_p50_p99_ms", stages);
            m.put("cpu_ms_per_job_by_component", cpuByComponent);
            m.put("raw_cpu_ms_per_record", ReplayReport.round(rawCpuMs));
            m.put("pipeline_cpu_ms_per_job", ReplayReport.round(jobCpuMs));
            m.put("ratio_cpu_per_job", ReplayReport.round(jobCpuMs / rawCpuMs));
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

    /**
     * Requests the in-process broker has handled, by type ({@code kafka.network:type=RequestMetrics,
     * name=RequestsPerSec,request=*}, attribute {@code Count}); empty if the broker's metrics are not in this JVM.
     */
    static Map<String, Long> brokerRequestCounts() {
        Map<String, Long> counts = new java.util.TreeMap<>();
        try {
            var mbeans = java.lang.management.ManagementFactory.getPlatformMBeanServer();
            for (var name : mbeans.queryNames(new javax.management.ObjectName(
                    "kafka.network:type=RequestMetrics,name=RequestsPerSec,*"), null)) {
                Object count = mbeans.getAttribute(name, "Count");
                if (count instanceof Number n) {
                    counts.merge(name.getKeyProperty("request"), n.longValue(), Long::sum);
                }
            }
        } catch (javax.management.JMException e) {
            return Map.of();
        }
        return counts;
    }

    /** Per-job deltas of request counts, largest first, those of at least 0.05 per job. */
    static Map<String, Double> perJob(Map<String, Long> before, Map<String, Long> after, long jobs) {
        Map<String, Double> out = new LinkedHashMap<>();
        after.entrySet().stream()
                .map(e -> Map.entry(e.getKey(), (e.getValue() - before.getOrDefault(e.getKey(), 0L)) / (double) Math.max(1, jobs)))
                .filter(e -> e.getValue() >= 0.05)
                .sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> out.put(e.getKey(), ReplayReport.round(e.getValue())));
        return out;
    }

    /** CPU time of this whole process (every thread), nanoseconds. */
    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
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

    /**
     * Where a job's latency goes, from the client's send time and the server's timestamps (one host, one wall
     * clock): send → queued (HTTP submit and the request record's produce), queued → running (dispatch and the
     * worker's fetch), running → finished (the instant backend and the KV cache), finished → seen (the worker's
     * transaction commit and the result's consumer). p50 and p99 of each, in milliseconds.
     */
    static Map<String, String> stageLatencies(Replayer.Result r) {
        List<JobOutcome> done = r.outcomes().stream().filter(o -> o.finished() && o.startedAtMs > 0 && o.sentAtMs > 0).toList();
        Map<String, String> out = new LinkedHashMap<>();
        stage(out, "send→queued", done.stream().mapToDouble(o -> o.submittedAtMs - o.sentAtMs).toArray());
        stage(out, "queued→running", done.stream().mapToDouble(o -> o.startedAtMs - o.submittedAtMs).toArray());
        stage(out, "running→finished", done.stream().mapToDouble(o -> o.finishedAtMs - o.startedAtMs).toArray());
        stage(out, "finished→seen", done.stream().mapToDouble(o -> o.sentAtMs + o.e2eSeconds() * 1000 - o.finishedAtMs).toArray());
        return out;
    }

    private static void stage(Map<String, String> out, String name, double[] ms) {
        out.put(name, String.format(Locale.ROOT, "%.1f / %.1f", Stats.pct(ms, 0.5), Stats.pct(ms, 0.99)));
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
