package io.inferq.loadtests.report;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Samples the server's Prometheus {@code /metrics} (queue depth, per-pool credit utilisation, KV block
 * hits/misses, heap) and the client's own counters every {@code periodMs}, on a daemon thread of its own.
 * A scrape that fails leaves the server fields NaN for that sample.
 */
public final class MetricsSampler implements AutoCloseable {

    /** Client-side counts at one moment. */
    public record ClientCounts(long sent, long accepted, long rejected, long finished) {
    }

    /** One sample; {@code tSeconds} since the sampler started. NaN = not available. */
    public record Sample(double tSeconds, double queueDepth, Map<String, Double> poolUtilisation, double kvHitBlocks,
                         double kvMissBlocks, double heapBytes, double serverRejections, ClientCounts client) {
    }

    private final URI metrics;
    private final long periodMs;
    private final Supplier<ClientCounts> client;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final List<Sample> samples = new ArrayList<>();
    private final long t0 = System.nanoTime();
    private final Thread thread;
    private volatile boolean running = true;

    /** @param baseUrl the server ({@code null}: client counts only) */
    public MetricsSampler(String baseUrl, long periodMs, Supplier<ClientCounts> client) {
        this.metrics = baseUrl == null ? null : URI.create(baseUrl.replaceAll("/+$", "") + "/metrics");
        this.periodMs = periodMs;
        this.client = client;
        thread = new Thread(this::loop, "load-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running) {
            sampleNow();
            try {
                Thread.sleep(periodMs);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Takes one sample now (also called once more at close). */
    public void sampleNow() {
        double t = (System.nanoTime() - t0) / 1e9;
        Map<String, Double> util = new LinkedHashMap<>();
        double[] v = {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        if (metrics != null) {
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    parse(r.body(), util, v);
                }
            } catch (java.io.IOException e) {
                // NaN this time
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        Sample s = new Sample(t, v[0], util, v[1], v[2], v[3], v[4], client.get());
        synchronized (samples) {
            samples.add(s);
        }
    }

    /** Parses the Prometheus text format lines this report uses. Visible for tests. */
    static void parse(String text, Map<String, Double> util, double[] v) {
        double queue = 0;
        double hit = 0;
        double miss = 0;
        double heap = 0;
        double rej = 0;
        boolean q = false;
        boolean kv = false;
        boolean h = false;
        boolean rj = false;
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.charAt(0) == '#') {
                continue;
            }
            int sp = line.lastIndexOf(' ');
            if (sp < 0) {
                continue;
            }
            double value;
            try {
                value = Double.parseDouble(line.substring(sp + 1));
            } catch (NumberFormatException e) {
                continue;
            }
            String key = line.substring(0, sp);
            if (key.startsWith("inferq_dispatcher_queue_depth")) {
                queue += value;
                q = true;
            } else if (key.startsWith("inferq_dispatcher_pool_utilisation")) {
                util.put(label(key, "pool"), value);
            } else if (key.startsWith("inferq_kv_blocks_total")) {
                kv = true;
                String tier = label(key, "tier");
                if ("miss".equals(tier)) {
                    miss += value;
                } else {
                    hit += value;
                }
            } else if (key.startsWith("jvm_memory_used_bytes") && "heap".equals(label(key, "area"))) {
                heap += value;
                h = true;
            } else if (key.startsWith("inferq_ingress_rejections_total")) {
                rej += value;
                rj = true;
            }
        }
        v[0] = q ? queue : Double.NaN;
        v[1] = kv ? hit : Double.NaN;
        v[2] = kv ? miss : Double.NaN;
        v[3] = h ? heap : Double.NaN;
        v[4] = rj ? rej : Double.NaN;
    }

    /** The value of label {@code name} in a Prometheus sample's key ({@code name{a="x",…}}), or {@code "?"}. */
    public static String label(String key, String name) {
        int i = key.indexOf(name + "=\"");
        if (i < 0) {
            return "?";
        }
        int s = i + name.length() + 2;
        return key.substring(s, key.indexOf('"', s));
    }

    public List<Sample> samples() {
        synchronized (samples) {
            return List.copyOf(samples);
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sampleNow();
    }
}
