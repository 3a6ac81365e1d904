package io.inferq.loadtests.bench;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.report.HtmlReport;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.loadtests.report.Stats;
import io.inferq.loadtests.report.Svg;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Bounded memory: an inferq <em>child process</em> (so its heap is its own) runs only ingress and dispatcher;
 * {@code --jobs} jobs are queued over HTTP while its heap ({@code jvm_memory_used_bytes{area=heap}} from
 * {@code /metrics}) and {@code GET /health} latency are sampled; then its live heap is measured after a full GC
 * ({@code jcmd GC.run}) with the class histogram's top entries (which structure dominates). Then the process is
 * restarted with every role on the same data directory and the queue drains: every accepted job's result must
 * appear on {@code inferq.results}.
 */
public final class MemoryBenchmark {
    private static final String KEY = "sk-load-bench";

    private MemoryBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        int jobs = f.intValue("jobs", 200_000);
        String xmx = f.string("server-xmx", "2g");
        // the drain process also holds the finished jobs (with their output) for the view's 24 h retention
        String drainXmx = f.string("drain-xmx", "2g");
        int concurrency = f.intValue("concurrency", 64);
        double drainTimeout = f.positive("drain-timeout-s", 600);
        long targetMb = f.longValue("target-heap-mb", 512);
        Path dir = LoadCommand.outDir(f, "bench-memory");
        f.rejectUnknown();
        try {
            Files.createDirectories(dir);
            Path data = Files.createTempDirectory("inferq-mem");
            int http = EmbeddedInferq.freePort();
            int kafka = EmbeddedInferq.freePort();
            int hz = EmbeddedInferq.freePort();
            String url = "http://127.0.0.1:" + http;
            List<double[]> heap = new ArrayList<>(); // t, heap MB, queued
            List<double[]> health = new ArrayList<>(); // t, ms
            AtomicLong accepted = new AtomicLong();
            AtomicLong rejected = new AtomicLong();
            java.util.concurrent.atomic.AtomicReference<String> lastJobId = new java.util.concurrent.atomic.AtomicReference<>();
            long t0 = System.nanoTime();
            out.printf(Locale.ROOT, "starting inferq child process (roles ingress,dispatcher; -Xmx%s)...%n", xmx);
            Child server = Child.start(dir.resolve("server-1.log"), dir.resolve("gc-1.log"), xmx, "--roles", "ingress,dispatcher",
                    "--bench-key", KEY, "--data-dir", data.toString(), "--http-port", Integer.toString(http), "--kafka-port",
                    Integer.toString(kafka), "--hazelcast-port", Integer.toString(hz), "--time-scale", "1000000", "--fleet", "simulator");
            String bootstrap = server.kafka;
            HttpClient probe = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            // the baseline: live heap of the idle server after a full GC (a per-job figure needs it, not a first sample)
            jcmd(server.pid(), "GC.run");
            Thread.sleep(1000);
            double idleLiveMb = heapBytes(get(probe, url + "/metrics")) / 1048576.0;
            Thread sampler = new Thread(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    double t = (System.nanoTime() - t0) / 1e9;
                    long h0 = System.nanoTime();
                    try {
                        probe.send(HttpRequest.newBuilder(URI.create(url + "/health")).timeout(Duration.ofSeconds(10)).build(),
                                HttpResponse.BodyHandlers.discarding());
                        synchronized (health) {
                            health.add(new double[] {t, (System.nanoTime() - h0) / 1e6});
                        }
                        HttpResponse<String> m = probe.send(operator(HttpRequest.newBuilder(URI.create(url + "/metrics")))
                                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                        synchronized (heap) {
                            heap.add(new double[] {t, heapBytes(m.body()) / 1048576.0, accepted.get()});
                        }
                        Thread.sleep(250);
                    } catch (IOException e) {
                        // server restarting
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "mem-sampler");
            sampler.setDaemon(true);
            sampler.start();

            String prompt = PromptText.build(16, List.of(), 0, 1);
            Semaphore inFlight = new Semaphore(concurrency);
            long lastPrint = System.nanoTime();
            try (HttpTarget target = new HttpTarget(url, KEY)) {
                for (int i = 0; i < jobs; i++) {
                    inFlight.acquire();
                    target.submit("deepseek-v2-lite", prompt, 1).whenComplete((a, ex) -> {
                        if (a != null && (a.status() == 202 || a.status() == 200)) {
                            accepted.incrementAndGet();
                            lastJobId.set(a.jobId());
                        } else {
                            rejected.incrementAndGet();
                        }
                        inFlight.release();
                    });
                    if (System.nanoTime() - lastPrint > 5e9) {
                        lastPrint = System.nanoTime();
                        out.printf(Locale.ROOT, "[%6.1fs] queued %d (%.0f/s; rejected %d), server heap %.0f MB, /health %.1f ms%n",
                                (lastPrint - t0) / 1e9, accepted.get(), accepted.get() / ((lastPrint - t0) / 1e9), rejected.get(),
                                last(heap, 1), last(health, 1));
                    }
                }
                inFlight.acquire(concurrency);
                inFlight.release(concurrency);
            }
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "queued %d jobs (rejected %d) in %.1f s (%.0f jobs/s)%n", accepted.get(), rejected.get(), loadSeconds,
                    accepted.get() / loadSeconds);
            // let the job view catch up (it has the last accepted job) and the dispatcher settle
            double viewLagSeconds = awaitJob(probe, url, lastJobId.get(), Duration.ofMinutes(5));
            Thread.sleep(3000);
            // the list and get calls still answer with every job in the view (no index: a list call scans)
            double[] listMs = timeList(probe, url, lastJobId.get());
            String gc = jcmd(server.pid(), "GC.run");
            Thread.sleep(1000);
            double liveMb = heapBytes(get(probe, url + "/metrics")) / 1048576.0;
            String histogram = jcmd(server.pid(), "GC.class_histogram");
            List<String> top = histogram.lines().skip(3).limit(15).toList();
            double peakMb = heap.stream().mapToDouble(x -> x[1]).max().orElse(Double.NaN);
            double[] healthMs;
            synchronized (health) {
                healthMs = health.stream().mapToDouble(x -> x[1]).toArray();
            }
            out.printf(Locale.ROOT, "server heap: peak used %.0f MB (incl. garbage), live after full GC %.0f MB with %d jobs queued (idle: %.0f MB; "
                    + "target < %d MB)%n", peakMb, liveMb, accepted.get(), idleLiveMb, targetMb);
            out.printf(Locale.ROOT, "GET /health while loading: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d probes)%n",
                    Stats.pct(healthMs, 0.5), Stats.pct(healthMs, 0.99), Stats.pct(healthMs, 1), healthMs.length);
            out.printf(Locale.ROOT, "with %d jobs queued: job view caught up %.1f s after the last submit; GET /v1/jobs/{id} %.1f ms, "
                    + "GET /v1/jobs?limit=100 %.0f ms, its next page %.0f ms%n", accepted.get(), viewLagSeconds, listMs[0], listMs[1], listMs[2]);
            out.println("largest classes on the server heap after full GC (jcmd GC.class_histogram):");
            top.forEach(l -> out.println("  " + l.trim()));
            if (gc.isBlank()) {
                out.println("(jcmd GC.run answered nothing)");
            }

            out.println("restarting the server with every role on the same data directory to drain...");
            server.stop();
            double restartAt = (System.nanoTime() - t0) / 1e9;
            Child drainer = Child.start(dir.resolve("server-2.log"), dir.resolve("gc-2.log"), drainXmx, "--bench-key", KEY, "--data-dir",
                    data.toString(), "--http-port", Integer.toString(http), "--kafka-port", Integer.toString(kafka), "--hazelcast-port",
                    Integer.toString(hz), "--time-scale", "1000000", "--fleet", "simulator");
            long drained;
            double drainSeconds;
            try (ResultFollower results = new ResultFollower(bootstrap, true)) {
                long d0 = System.nanoTime();
                long until = d0 + (long) (drainTimeout * 1e9);
                lastPrint = System.nanoTime();
                while (results.resultsSeen() < accepted.get() && System.nanoTime() < until) {
                    Thread.sleep(200);
                    if (System.nanoTime() - lastPrint > 5e9) {
                        lastPrint = System.nanoTime();
                        out.printf(Locale.ROOT, "[%6.1fs] drained %d/%d, server heap %.0f MB%n", (lastPrint - t0) / 1e9,
                                results.resultsSeen(), accepted.get(), last(heap, 1));
                    }
                }
                drained = results.resultsSeen();
                drainSeconds = (System.nanoTime() - d0) / 1e9;
            }
            sampler.interrupt();
            drainer.stop();
            out.printf(Locale.ROOT, "drained %d of %d accepted jobs in %.1f s after restart (%.0f jobs/s)%n", drained, accepted.get(),
                    drainSeconds, drained / drainSeconds);
            out.printf(Locale.ROOT, "RATIO live heap ÷ 512 MB target = %.2f with %d jobs queued; %.0f bytes per queued job above the idle "
                    + "live heap (%.0f MB)%n", liveMb / targetMb, accepted.get(), (liveMb - idleLiveMb) * 1048576 / Math.max(1, accepted.get()),
                    idleLiveMb);

            Map<String, Object> m = new LinkedHashMap<>();
            m.put("command", "bench-memory");
            m.put("jobs_requested", jobs);
            m.put("jobs_accepted", accepted.get());
            m.put("jobs_rejected", rejected.get());
            m.put("load_seconds", ReplayReport.round(loadSeconds));
            m.put("server_xmx", xmx);
            m.put("drain_xmx", drainXmx);
            m.put("heap_peak_used_mb", ReplayReport.round(peakMb));
            m.put("heap_live_after_full_gc_mb", ReplayReport.round(liveMb));
            m.put("heap_idle_first_sample_mb", ReplayReport.round(firstHeap(heap)));
            m.put("heap_live_idle_mb", ReplayReport.round(idleLiveMb));
            m.put("bytes_per_queued_job", Math.round((liveMb - idleLiveMb) * 1048576 / Math.max(1, accepted.get())));
            m.put("target_heap_mb", targetMb);
            m.put("health_p50_ms", ReplayReport.round(Stats.pct(healthMs, 0.5)));
            m.put("health_p99_ms", ReplayReport.round(Stats.pct(healthMs, 0.99)));
            m.put("health_max_ms", ReplayReport.round(Stats.pct(healthMs, 1)));
            m.put("view_caught_up_after_s", ReplayReport.round(viewLagSeconds));
            m.put("get_job_ms", ReplayReport.round(listMs[0]));
            m.put("list_jobs_ms", ReplayReport.round(listMs[1]));
            m.put("list_jobs_next_page_ms", ReplayReport.round(listMs[2]));
            m.put("drained", drained);
            m.put("drain_seconds", ReplayReport.round(drainSeconds));
            m.put("top_classes", top);
            Bench.writeJson(dir.resolve("summary.json"), m);
            HtmlReport h = new HtmlReport("inferq bounded memory: queue with workers stopped, then drain");
            h.keyValues(m);
            double[][] hp;
            synchronized (heap) {
                hp = heap.toArray(new double[0][]);
            }
            double[] ht = java.util.Arrays.stream(hp).mapToDouble(x -> x[0]).toArray();
            h.chart(Svg.chart("heap", "Server heap used (MB; restart at " + Math.round(restartAt) + " s)", "seconds", "MB", List.of(
                    new Svg.Series("heap used", ht, java.util.Arrays.stream(hp).mapToDouble(x -> x[1]).toArray()),
                    new Svg.Series("target", new double[] {0, ht.length == 0 ? 1 : ht[ht.length - 1]}, new double[] {targetMb, targetMb}))));
            h.chart(Svg.chart("queue-depth", "Jobs queued (accepted)", "seconds", "jobs", List.of(
                    new Svg.Series("accepted", ht, java.util.Arrays.stream(hp).mapToDouble(x -> x[2]).toArray()))));
            double[][] hh;
            synchronized (health) {
                hh = health.toArray(new double[0][]);
            }
            h.chart(Svg.chart("health", "GET /health latency", "seconds", "ms", List.of(new Svg.Series("/health",
                    java.util.Arrays.stream(hh).mapToDouble(x -> x[0]).toArray(), java.util.Arrays.stream(hh).mapToDouble(x -> x[1]).toArray()))));
            h.heading("Class histogram after full GC (top 15)").preformatted(String.join("\n", top));
            h.write(dir.resolve("report.html"));
            out.println("report: " + dir.resolve("report.html").toAbsolutePath());
            return 0;
        } catch (IOException e) {
            throw new IllegalStateException("memory benchmark failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static double last(List<double[]> l, int idx) {
        synchronized (l) {
            return l.isEmpty() ? Double.NaN : l.get(l.size() - 1)[idx];
        }
    }

    private static double firstHeap(List<double[]> l) {
        synchronized (l) {
            return l.isEmpty() ? Double.NaN : l.get(0)[1];
        }
    }

    static double heapBytes(String metrics) {
        double sum = 0;
        for (String line : metrics.split("\n")) {
            if (line.startsWith("jvm_memory_used_bytes") && line.contains("area=\"heap\"")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    /** @return seconds until {@code GET /v1/jobs/{id}} found the job (NaN when it did not within {@code timeout}) */
    private static double awaitJob(HttpClient c, String url, String jobId, Duration timeout) throws IOException, InterruptedException {
        if (jobId == null) {
            return Double.NaN;
        }
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < timeout.toNanos()) {
            HttpResponse<Void> r = c.send(HttpRequest.newBuilder(URI.create(url + "/v1/jobs/" + jobId)).header("Authorization", "Bearer " + KEY)
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding());
            if (r.statusCode() == 200) {
                return (System.nanoTime() - t0) / 1e9;
            }
            Thread.sleep(200);
        }
        return Double.NaN;
    }

    /** @return ms of: a get, the first list page, the page after it */
    private static double[] timeList(HttpClient c, String url, String jobId) throws IOException, InterruptedException {
        double[] ms = new double[] {Double.NaN, Double.NaN, Double.NaN};
        if (jobId == null) {
            return ms;
        }
        long t0 = System.nanoTime();
        c.send(HttpRequest.newBuilder(URI.create(url + "/v1/jobs/" + jobId)).header("Authorization", "Bearer " + KEY)
                .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.discarding());
        ms[0] = (System.nanoTime() - t0) / 1e6;
        t0 = System.nanoTime();
        HttpResponse<String> page = c.send(HttpRequest.newBuilder(URI.create(url + "/v1/jobs?limit=100")).header("Authorization", "Bearer " + KEY)
                .timeout(Duration.ofSeconds(120)).build(), HttpResponse.BodyHandlers.ofString());
        ms[1] = (System.nanoTime() - t0) / 1e6;
        java.util.regex.Matcher last = java.util.regex.Pattern.compile("\"last_id\":\"([^\"]+)\"").matcher(page.body());
        if (page.statusCode() == 200 && last.find()) {
            t0 = System.nanoTime();
            c.send(HttpRequest.newBuilder(URI.create(url + "/v1/jobs?limit=100&after=" + last.group(1))).header("Authorization", "Bearer " + KEY)
                    .timeout(Duration.ofSeconds(120)).build(), HttpResponse.BodyHandlers.discarding());
            ms[2] = (System.nanoTime() - t0) / 1e6;
        }
        return ms;
    }

    private static String get(HttpClient c, String u) throws IOException, InterruptedException {
        return c.send(operator(HttpRequest.newBuilder(URI.create(u))).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    /** The child runs with the bench tenant configured, so {@code /metrics} needs the operator key. */
    private static HttpRequest.Builder operator(HttpRequest.Builder b) {
        return b.header("Authorization", "Bearer " + io.inferq.loadtests.embedded.EmbeddedInferq.operatorKey(KEY));
    }

    private static String jcmd(long pid, String cmd) throws IOException, InterruptedException {
        Path java = Path.of(ProcessHandle.current().info().command().orElse("java"));
        Path jcmd = java.resolveSibling("jcmd");
        Process p = new ProcessBuilder(Files.exists(jcmd) ? jcmd.toString() : "jcmd", Long.toString(pid), cmd)
                .redirectErrorStream(true).start();
        String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(60, TimeUnit.SECONDS);
        return s;
    }

    /** A {@code serve} child JVM on this process's classpath. */
    record Child(Process process, String kafka) {
        /** How long a child may take to print {@code READY} before it is killed. */
        static final long READY_TIMEOUT_S = 120;

        static Child start(Path log, Path gcLog, String xmx, String... serveArgs) throws IOException, InterruptedException {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx" + xmx,
                    "-Xlog:gc:file=" + gcLog, "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.inferq.broker.avro",
                    "-Dhazelcast.logging.type=slf4j", "-Dhazelcast.phone.home.enabled=false",
                    "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/java.nio=ALL-UNNAMED",
                    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
                    "--add-opens", "java.management/sun.management=ALL-UNNAMED",
                    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
                    "-cp", System.getProperty("java.class.path"), "io.inferq.loadtests.LoadCommand", "serve"));
            cmd.addAll(List.of(serveArgs));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String kafka = null;
            java.io.Writer w = Files.newBufferedWriter(log, StandardCharsets.UTF_8);
            // a child that hangs silently would block readLine forever: past the deadline it is killed, which
            // ends the stream
            java.util.concurrent.atomic.AtomicBoolean ready = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.CompletableFuture.delayedExecutor(READY_TIMEOUT_S, TimeUnit.SECONDS).execute(() -> {
                if (!ready.get()) {
                    p.destroyForcibly();
                }
            });
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                w.write(line + "\n");
                if (line.startsWith("READY ")) {
                    kafka = line.substring(line.indexOf("kafka=") + 6).trim();
                    ready.set(true);
                    break;
                }
            }
            w.flush();
            if (kafka == null) {
                p.destroyForcibly();
                w.close();
                throw new IllegalStateException("inferq child did not print READY within " + READY_TIMEOUT_S
                        + " s (or exited); see " + log);
            }
            Thread pump = new Thread(() -> {
                try (w; r) {
                    for (String line = r.readLine(); line != null; line = r.readLine()) {
                        w.write(line + "\n");
                    }
                } catch (IOException e) {
                    // process ended
                }
            }, "child-log");
            pump.setDaemon(true);
            pump.start();
            return new Child(p, kafka);
        }

        long pid() {
            return process.pid();
        }

        /** SIGTERM (graceful shutdown hook), then force after 60 s. */
        void stop() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

}
