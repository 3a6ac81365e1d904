package io.inferq.loadtests.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.Replayer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The numbers of one replay ({@link #summary}) and its report: {@code summary.json} plus a self-contained
 * {@code report.html} with latency CDFs, queue depth, pool utilisation, in-flight jobs, cache hit ratio and
 * rejections over time. Latencies are wall seconds; multiply by the pools' time-scale for trace seconds.
 */
public final class ReplayReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ReplayReport() {
    }

    public static Map<String, Object> summary(Replayer.Result r, Map<String, Object> context) {
        Map<String, Object> m = new LinkedHashMap<>(context);
        List<JobOutcome> os = r.outcomes();
        long accepted = os.stream().filter(JobOutcome::accepted).count();
        Map<String, Long> rejections = new TreeMap<>();
        Map<String, Long> rejectionsByCode = new TreeMap<>();
        Map<String, Long> terminal = new TreeMap<>();
        Map<String, Long> failures = new TreeMap<>();
        Map<String, String> examples = new TreeMap<>();
        long cached = 0;
        long prompt = 0;
        for (JobOutcome o : os) {
            if (!o.accepted()) {
                String code = o.rejectCode != null ? o.rejectCode : "no_answer";
                rejections.merge(o.submitStatus + " " + code, 1L, Long::sum);
                rejectionsByCode.merge(code, 1L, Long::sum);
                if (o.rejectMessage != null) {
                    examples.putIfAbsent(code, o.rejectMessage);
                }
            }
            if (o.finished()) {
                terminal.merge(o.status, 1L, Long::sum);
                if (!"succeeded".equals(o.status)) {
                    String code = o.errorCode != null ? o.errorCode : "none (" + o.status + ")";
                    failures.merge(code, 1L, Long::sum);
                    if (o.errorMessage != null) {
                        examples.putIfAbsent(code, o.errorMessage);
                    }
                }
                cached += o.cachedTokens;
                prompt += o.serverPromptTokens > 0 ? o.serverPromptTokens : o.promptTokens;
            }
        }
        long finished = terminal.values().stream().mapToLong(Long::longValue).sum();
        m.put("requests_planned", os.size() + r.notSent() + r.skippedOverBudget());
        m.put("requests_sent", os.size());
        m.put("accepted", accepted);
        m.put("rejected", os.size() - accepted);
        m.put("rejected_busy_429_503", os.stream().filter(o -> o.submitStatus == 429 || o.submitStatus == 503).count());
        m.put("rejections_by_status_code", rejections);
        m.put("rejections_by_code", rejectionsByCode);
        m.put("finished_by_status", terminal);
        m.put("failures_by_error_code", failures);
        m.put("example_message_by_code", examples);
        m.put("accepted_not_finished", accepted - finished);
        m.put("not_sent_max_duration", r.notSent());
        m.put("clamped_to_context", r.clamped());
        m.put("prompt_budget", r.budget().describe());
        m.put("over_budget_requests", r.budget().known() ? r.overBudget() : null);
        m.put("over_budget_action", r.overBudgetAction().flagValue());
        m.put("skipped_over_budget", r.skippedOverBudget());
        m.put("clamped_to_budget", r.clampedToBudget());
        m.put("wall_seconds", round(r.wallSeconds()));
        m.put("send_seconds", round(r.sendSeconds()));
        m.put("max_send_lag_ms", r.maxLagMs());
        m.put("p99_send_lag_ms", round(r.sendLagP99Ms()));
        m.put("finished_per_second", round(finished / Math.max(1e-9, r.wallSeconds())));
        double[] ttft = os.stream().filter(JobOutcome::finished).mapToDouble(JobOutcome::ttftSeconds).toArray();
        double[] e2e = os.stream().filter(JobOutcome::finished).mapToDouble(JobOutcome::e2eSeconds).toArray();
        m.put("ttft_seconds", percentiles(ttft));
        m.put("e2e_seconds", percentiles(e2e));
        m.put("prompt_cache_hit_ratio", prompt == 0 ? null : round((double) cached / prompt));
        List<MetricsSampler.Sample> ss = r.samples();
        m.put("max_queue_depth", ss.stream().mapToDouble(MetricsSampler.Sample::queueDepth).filter(d -> !Double.isNaN(d)).max().orElse(Double.NaN));
        Map<String, Object> util = new LinkedHashMap<>();
        for (String pool : pools(ss)) {
            util.put(pool, round(ss.stream().mapToDouble(s -> s.poolUtilisation().getOrDefault(pool, Double.NaN))
                    .filter(d -> !Double.isNaN(d)).average().orElse(Double.NaN)));
        }
        m.put("mean_pool_credit_utilisation", util);
        if (!ss.isEmpty()) {
            MetricsSampler.Sample last = ss.get(ss.size() - 1);
            double h = last.kvHitBlocks();
            double mi = last.kvMissBlocks();
            m.put("kv_block_hit_ratio_metrics", Double.isNaN(h) || h + mi == 0 ? null : round(h / (h + mi)));
        }
        return m;
    }

    /** One line for the console: what happened to the requests, with failures and rejections by code. */
    public static String outcomeLine(Map<String, Object> s) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "outcome: planned %s, sent %s, accepted %s, rejected %s %s; finished %s",
                s.get("requests_planned"), s.get("requests_sent"), s.get("accepted"), s.get("rejected"), s.get("rejections_by_code"),
                s.get("finished_by_status")));
        sb.append(", failures by error code ").append(s.get("failures_by_error_code"));
        sb.append(", accepted not finished ").append(s.get("accepted_not_finished"));
        if (s.get("over_budget_requests") != null) {
            sb.append(String.format(Locale.ROOT, "; prompts over the fleet's budget %s (%s: skipped %s, clamped %s)", s.get("over_budget_requests"),
                    s.get("over_budget_action"), s.get("skipped_over_budget"), s.get("clamped_to_budget")));
        }
        if (s.get("example_message_by_code") instanceof Map<?, ?> ex && !ex.isEmpty()) {
            ex.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "%n  %s: %s", k, v)));
        }
        return sb.toString();
    }

    static Map<String, Object> percentiles(double[] v) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("n", Stats.sorted(v).length);
        p.put("p50", round(Stats.pct(v, 0.50)));
        p.put("p90", round(Stats.pct(v, 0.90)));
        p.put("p99", round(Stats.pct(v, 0.99)));
        p.put("max", round(Stats.pct(v, 1.0)));
        return p;
    }

    static Set<String> pools(List<MetricsSampler.Sample> ss) {
        Set<String> pools = new LinkedHashSet<>();
        ss.forEach(s -> pools.addAll(s.poolUtilisation().keySet()));
        return pools;
    }

    public static double round(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? v : Math.round(v * 10_000) / 10_000.0;
    }

    /** Writes {@code summary.json} and {@code report.html} under {@code dir}; returns the HTML path. */
    public static Path write(Path dir, String title, Replayer.Result r, Map<String, Object> summary) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("summary.json"), JSON.writeValueAsString(summary));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir, e);
        }
        HtmlReport h = new HtmlReport(title);
        h.heading("Summary").keyValues(flatten(summary));
        addCharts(h, r);
        Path html = dir.resolve("report.html");
        h.write(html);
        return html;
    }

    /** Adds the replay's charts to {@code h}. */
    public static void addCharts(HtmlReport h, Replayer.Result r) {
        List<JobOutcome> done = r.outcomes().stream().filter(JobOutcome::finished).toList();
        h.heading("Latency");
        h.chart(Svg.chart("cdf-ttft", "TTFT CDF (first_token_at − queued_at)", "seconds (wall)", "fraction of jobs",
                List.of(Svg.cdf("TTFT", done.stream().mapToDouble(JobOutcome::ttftSeconds).toArray()))));
        h.chart(Svg.chart("cdf-e2e", "End-to-end latency CDF (send → terminal seen)", "seconds (wall)", "fraction of jobs",
                List.of(Svg.cdf("end-to-end", done.stream().mapToDouble(JobOutcome::e2eSeconds).toArray()))));
        List<MetricsSampler.Sample> ss = r.samples();
        double[] t = ss.stream().mapToDouble(MetricsSampler.Sample::tSeconds).toArray();
        h.heading("Over time");
        h.chart(Svg.chart("queue-depth", "Queue depth", "seconds", "jobs", List.of(
                new Svg.Series("dispatcher queue", t, ss.stream().mapToDouble(MetricsSampler.Sample::queueDepth).toArray()),
                new Svg.Series("accepted, not finished", t, ss.stream()
                        .mapToDouble(s -> s.client().accepted() - s.client().finished()).toArray()))));
        List<Svg.Series> util = new ArrayList<>();
        for (String pool : pools(ss)) {
            util.add(new Svg.Series(pool, t, ss.stream().mapToDouble(s -> s.poolUtilisation().getOrDefault(pool, Double.NaN)).toArray()));
        }
        h.chart(Svg.chart("pool-utilisation", "Pool utilisation (batch credits in use)", "seconds", "share", util));
        double[] hit = new double[ss.size()];
        for (int i = 0; i < ss.size(); i++) {
            double a = ss.get(i).kvHitBlocks();
            double b = ss.get(i).kvMissBlocks();
            hit[i] = a + b > 0 ? a / (a + b) : Double.NaN;
        }
        List<Svg.Series> hits = new ArrayList<>();
        hits.add(new Svg.Series("KV blocks hit (server, cumulative)", t, hit));
        double[] jobHit = cumulativeJobHitRatio(done, r, t);
        hits.add(new Svg.Series("prompt tokens cached (jobs, cumulative)", t, jobHit));
        h.chart(Svg.chart("cache-hit", "Cache hit ratio", "seconds", "ratio", hits));
        h.chart(Svg.chart("rejections", "Requests over time (cumulative)", "seconds", "requests", List.of(
                new Svg.Series("sent", t, ss.stream().mapToDouble(s -> s.client().sent()).toArray()),
                new Svg.Series("finished", t, ss.stream().mapToDouble(s -> s.client().finished()).toArray()),
                new Svg.Series("rejected (429/503/other)", t, ss.stream().mapToDouble(s -> s.client().rejected()).toArray()))));
    }

    private static double[] cumulativeJobHitRatio(List<JobOutcome> done, Replayer.Result r, double[] t) {
        double[] out = new double[t.length];
        if (done.isEmpty()) {
            java.util.Arrays.fill(out, Double.NaN);
            return out;
        }
        long start = r.outcomes().get(0).sentNanos;
        List<JobOutcome> byTime = new ArrayList<>(done);
        byTime.sort(java.util.Comparator.comparingLong(o -> o.seenNanos));
        int k = 0;
        long c = 0;
        long p = 0;
        for (int i = 0; i < t.length; i++) {
            while (k < byTime.size() && (byTime.get(k).seenNanos - start) / 1e9 <= t[i]) {
                c += byTime.get(k).cachedTokens;
                p += Math.max(1, byTime.get(k).serverPromptTokens > 0 ? byTime.get(k).serverPromptTokens : byTime.get(k).promptTokens);
                k++;
            }
            out[i] = p == 0 ? Double.NaN : (double) c / p;
        }
        return out;
    }

    static Map<String, Object> flatten(Map<String, Object> m) {
        Map<String, Object> f = new LinkedHashMap<>();
        m.forEach((k, v) -> f.put(k, v instanceof Double d ? String.format(Locale.ROOT, "%.4g", d) : v));
        return f;
    }
}
