package io.inferq.loadtests.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where this process's CPU goes, by component: a snapshot of every thread's CPU time from
 * {@code /proc/self/task/<tid>/stat} (Linux; elsewhere the snapshot is empty), grouped by thread name (the
 * kernel keeps its first 15 characters). Threads that start and end between two snapshots are not seen.
 */
final class ThreadCpuBreakdown {
    private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux
    private static final List<Map.Entry<String, Pattern>> GROUPS = List.of(
            Map.entry("jit compiler", Pattern.compile("^C[12] Compiler")),
            Map.entry("gc", Pattern.compile("^(GC Thread|G1 |GN? ?Conc|GN Refine|G1 Refine|VM Thread)")),
            Map.entry("kafka broker", Pattern.compile("^(data-plane-kaf|group-coordina|TxnMarkerSende|AddPartitionsT|kafka-\\d|"
                    + "ExpirationReap|executor-|controller-|broker-|quorum-contro|share-|raft-|LogDirFailure|kafka-schedule|"
                    + "transaction-|ReplicaFetcher|kafka-log-clea)")),
            Map.entry("kafka clients (producer/consumer I/O)", Pattern.compile("^(kafka-producer|kafka-coordina)")),
            Map.entry("hazelcast", Pattern.compile("^hz\\.")),
            Map.entry("http ingress (vert.x event loops)", Pattern.compile("^vert\\.x-(eventloo|accepto)")),
            Map.entry("vert.x worker pool", Pattern.compile("^vert\\.x-worker")),
            Map.entry("job view materializer", Pattern.compile("^job-view-mater")),
            Map.entry("dispatcher", Pattern.compile("^dispatcher-")),
            Map.entry("pool workers", Pattern.compile("^worker-")),
            Map.entry("kv cache", Pattern.compile("^kv-")),
            Map.entry("webhooks", Pattern.compile("^webhook-")),
            Map.entry("load generator", Pattern.compile("^(load-|HttpClient-|raw-probe|main$)")));

    private ThreadCpuBreakdown() {
    }

    /** tid → (name, CPU ticks). */
    static Map<String, Map.Entry<String, Long>> snapshot() {
        Map<String, Map.Entry<String, Long>> out = new HashMap<>();
        Path tasks = Path.of("/proc/self/task");
        if (!Files.isDirectory(tasks)) {
            return out;
        }
        try (Stream<Path> s = Files.list(tasks)) {
            s.forEach(t -> {
                try {
                    String name = Files.readString(t.resolve("comm")).strip();
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    out.put(t.getFileName().toString(), Map.entry(name, Long.parseLong(f[11]) + Long.parseLong(f[12])));
                } catch (IOException | RuntimeException e) {
                    // the thread ended while we read it
                }
            });
        } catch (IOException e) {
            return out;
        }
        return out;
    }

    /** CPU milliseconds per {@code per} (e.g. per job) by component between two snapshots, largest first. */
    static Map<String, Double> between(Map<String, Map.Entry<String, Long>> before, Map<String, Map.Entry<String, Long>> after,
            long per) {
        Map<String, Long> ticks = new HashMap<>();
        after.forEach((tid, now) -> {
            Map.Entry<String, Long> then = before.get(tid);
            long delta = now.getValue() - (then == null ? 0 : then.getValue());
            if (delta > 0) {
                ticks.merge(group(now.getKey()), delta, Long::sum);
            }
        });
        Map<String, Double> out = new LinkedHashMap<>();
        ticks.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .forEach(e -> out.put(e.getKey(), Math.round(e.getValue() * 1000.0 / TICKS_PER_SECOND / Math.max(1, per) * 1000) / 1000.0));
        return out;
    }

    static String group(String threadName) {
        for (Map.Entry<String, Pattern> g : GROUPS) {
            if (g.getValue().matcher(threadName).find()) {
                return g.getKey();
            }
        }
        return "other";
    }
}
