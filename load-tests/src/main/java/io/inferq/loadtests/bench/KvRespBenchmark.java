package io.inferq.loadtests.bench;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.embedded.FreePorts;
import io.inferq.kvcache.resp.RemoteValueStore;
import io.inferq.kvcache.resp.RespServer;
import io.inferq.kvcache.resp.RespSettings;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.HazelcastLauncher;
import io.vertx.core.Vertx;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import redis.clients.jedis.Jedis;

/**
 * {@code bench-kv-resp}: LMCache's access pattern against inferq's remote KV tier (Redis protocol over
 * Hazelcast + Caffeine, in this JVM) and against a real {@code redis-server} started on a free loopback port,
 * one after the other in one run, with the same client (Jedis) and the same load: {@code --clients} connections,
 * each putting chunk pairs ({@code SET <key>kv_bytes}, {@code SET <key>metadata}) and, with probability
 * {@code --get-fraction}, reading one of its last {@code --keys} pairs back ({@code EXISTS <key>metadata},
 * {@code GET} both). Throughput counts value bytes moved (put + get); latency is per operation (a pair).
 * Every value read is checked (length and a key-derived stamp): a wrong value is counted, a miss too.
 */
public final class KvRespBenchmark {

    private KvRespBenchmark() {
    }

    /**
     * One system's figures; {@code cpuSeconds} is the CPU time spent while it was measured by this JVM (clients and,
     * for inferq, the tier itself) plus the {@code redis-server} process: CPU per byte moved, which a shared host's
     * load changes far less than throughput.
     */
    record Result(String system, double seconds, long puts, long gets, long misses, long wrong, long bytes,
                  Histogram putMicros, Histogram getMicros, double cpuSeconds) {
        double gbPerSecond() {
            return bytes / seconds / 1e9;
        }

        double cpuSecondsPerGb() {
            return bytes == 0 ? 0 : cpuSeconds / (bytes / 1e9);
        }
    }

    public static int run(Flags f, PrintStream out) {
        int valueBytes = f.intValue("value-bytes", 256 * 70_272);
        int clients = f.intValue("clients", 8);
        double getFraction = f.doubleValue("get-fraction", 0.8);
        int keys = f.intValue("keys", 4);
        double seconds = f.positive("seconds", 20);
        double warmup = f.doubleValue("warmup-seconds", 5);
        int members = f.intValue("members", 2);
        int rounds = f.intValue("rounds", 4);
        int backups = f.intValue("backup-count", 1);
        long localBytes = f.longValue("local-bytes", 256L << 20);
        long sharedBytes = f.longValue("shared-bytes", 1L << 30);
        String redisServer = f.string("redis-server", "redis-server");
        Path outDir = LoadCommand.outDir(f, "bench-kv-resp");
        f.rejectUnknown();
        if (rounds < 1) {
            throw new IllegalArgumentException("--rounds must be positive, was " + rounds);
        }
        if (members < 1 || members > 3) {
            throw new IllegalArgumentException("--members must be 1-3, was " + members);
        }
        try {
            Files.createDirectories(outDir);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot create " + outDir, e);
        }

        out.printf("bench-kv-resp: %d clients, %.1f MB values, %.0f%% gets, last %d pairs per client, %.0f s (+ %.0f s warm-up)"
                        + " per system in %d alternating rounds; inferq: %d Hazelcast member(s) in this JVM, backup-count %d,"
                        + " %d MiB of values per member (Redis: maxmemory %d MiB), local copy %d MiB%n",
                clients, valueBytes / 1e6, getFraction * 100, keys, seconds, warmup, rounds, members, backups,
                sharedBytes >> 20, sharedBytes >> 20, localBytes >> 20);
        List<Result> results = new ArrayList<>();
        List<HazelcastInstance> hz = new ArrayList<>();
        Vertx vertx = Vertx.vertx();
        RespServer server = null;
        Process redis = null;
        try {
            // inferq's tier, in this JVM
            String cluster = "bench-kv-resp-" + ProcessHandle.current().pid();
            int firstPort = FreePorts.pick();
            for (int i = 0; i < members; i++) {
                int port = i == 0 ? firstPort : FreePorts.pick();
                hz.add(HazelcastLauncher.start(new InferqConfig.Hazelcast(true, port, cluster,
                        List.of("127.0.0.1:" + firstPort)), "127.0.0.1", List.of()));
            }
            RemoteValueStore store = RemoteValueStore.create(hz.get(0), "bench.kv.remote", 256 * 1024,
                    (int) (sharedBytes >> 20), backups, localBytes, Clock.systemUTC());
            server = new RespServer(vertx, store, RespSettings.loopback(0));
            int inferqPort = server.start().toCompletionStage().toCompletableFuture().join();
            // a real Redis, as its own process
            int redisPort = -1;
            if (!onPath(redisServer)) {
                out.println("redis-server not found (Debian package redis-server): inferq alone, no ratio");
            } else {
                redisPort = FreePorts.pick();
                redis = new ProcessBuilder(redisServer, "--port", String.valueOf(redisPort), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--maxmemory", String.valueOf(sharedBytes),
                        "--maxmemory-policy", "allkeys-lru", "--protected-mode", "no", "--daemonize", "no")
                        .redirectErrorStream(true).redirectOutput(outDir.resolve("redis-server.log").toFile()).start();
                awaitRedis(redisPort);
            }
            // alternate the systems round by round, so a change in the machine's load hits both alike
            Result inferq = null;
            Result real = null;
            for (int round = 0; round < rounds; round++) {
                double w = round == 0 ? warmup : 0;
                long redisPid = redis == null ? -1 : redis.pid();
                inferq = merge(inferq, measure("inferq", inferqPort, clients, valueBytes, getFraction, keys, w, seconds / rounds,
                        redisPid));
                if (redisPort > 0) {
                    real = merge(real, measure("redis", redisPort, clients, valueBytes, getFraction, keys, w, seconds / rounds,
                            redisPid));
                }
                out.printf("round %d of %d done%n", round + 1, rounds);
            }
            results.add(inferq);
            if (real != null) {
                results.add(real);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("redis-server did not start", e);
        } finally {
            if (redis != null) {
                redis.destroy();
            }
            if (server != null) {
                server.close();
            }
            hz.forEach(h -> h.getLifecycleService().terminate());
            vertx.close();
        }

        out.println();
        out.printf("%-8s %9s %7s %7s %7s %6s %13s %13s %13s %13s %9s%n", "system", "GB/s", "puts", "gets", "misses", "wrong",
                "put p50 ms", "put p99 ms", "get p50 ms", "get p99 ms", "CPU s/GB");
        Map<String, Object> json = new LinkedHashMap<>();
        for (Result r : results) {
            out.printf("%-8s %9.3f %7d %7d %7d %6d %13.1f %13.1f %13.1f %13.1f %9.2f%n", r.system(), r.gbPerSecond(), r.puts(),
                    r.gets(), r.misses(), r.wrong(), ms(r.putMicros(), 50), ms(r.putMicros(), 99), ms(r.getMicros(), 50),
                    ms(r.getMicros(), 99), r.cpuSecondsPerGb());
            json.put(r.system(), Map.of("gbPerSecond", r.gbPerSecond(), "puts", r.puts(), "gets", r.gets(), "misses",
                    r.misses(), "wrong", r.wrong(), "putP99Ms", ms(r.putMicros(), 99), "getP99Ms", ms(r.getMicros(), 99),
                    "cpuSecondsPerGb", r.cpuSecondsPerGb()));
        }
        if (results.size() == 2) {
            Result i = results.get(0);
            Result r = results.get(1);
            out.printf("RATIO inferq ÷ redis: throughput %.2f (goal ≥ 0.5); p99 put %.2f×, p99 get %.2f× of Redis's;"
                            + " CPU per GB %.2f× of Redis's (clients included)%n",
                    i.gbPerSecond() / r.gbPerSecond(), ms(i.putMicros(), 99) / ms(r.putMicros(), 99),
                    ms(i.getMicros(), 99) / ms(r.getMicros(), 99), i.cpuSecondsPerGb() / r.cpuSecondsPerGb());
            json.put("cpuPerGbRatio", i.cpuSecondsPerGb() / r.cpuSecondsPerGb());
            json.put("throughputRatio", i.gbPerSecond() / r.gbPerSecond());
        }
        Bench.writeJson(outDir.resolve("bench-kv-resp.json"), json);
        out.println("report: " + outDir.resolve("bench-kv-resp.json"));
        return results.stream().anyMatch(r -> r.wrong() > 0) ? 1 : 0;
    }

    private static Result merge(Result a, Result b) {
        if (a == null) {
            return b;
        }
        Histogram puts = a.putMicros().copy();
        puts.add(b.putMicros());
        Histogram gets = a.getMicros().copy();
        gets.add(b.getMicros());
        return new Result(a.system(), a.seconds() + b.seconds(), a.puts() + b.puts(), a.gets() + b.gets(),
                a.misses() + b.misses(), a.wrong() + b.wrong(), a.bytes() + b.bytes(), puts, gets,
                a.cpuSeconds() + b.cpuSeconds());
    }

    private static double ms(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1000.0;
    }

    /** One system: warm-up, then {@code seconds} of the mixed load; all clients start and stop together. */
    static Result measure(String system, int port, int clients, int valueBytes, double getFraction, int keys,
                          double warmup, double seconds, long redisPid) {
        Histogram puts = new Histogram(3_600_000_000L, 3);
        Histogram gets = new Histogram(3_600_000_000L, 3);
        AtomicLong putCount = new AtomicLong();
        AtomicLong getCount = new AtomicLong();
        AtomicLong misses = new AtomicLong();
        AtomicLong wrong = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        long start = System.nanoTime();
        long measureFrom = start + (long) (warmup * 1e9);
        long end = measureFrom + (long) (seconds * 1e9);
        CountDownLatch done = new CountDownLatch(clients);
        List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            Thread t = new Thread(() -> {
                try (Jedis j = new Jedis("127.0.0.1", port, 120_000)) {
                    SplittableRandom rnd = new SplittableRandom(client * 7919L + 1);
                    byte[] value = new byte[valueBytes];
                    rnd.nextBytes(value);
                    List<String> recent = new ArrayList<>();
                    long seq = 0;
                    long now;
                    while ((now = System.nanoTime()) < end) {
                        boolean measured = now >= measureFrom;
                        if (recent.isEmpty() || rnd.nextDouble() >= getFraction) {
                            String key = system + "@bench@" + client + "@" + (seq++);
                            stamp(value, key);
                            long t0 = System.nanoTime();
                            j.set((key + "kv_bytes").getBytes(StandardCharsets.UTF_8), value);
                            j.set((key + "metadata").getBytes(StandardCharsets.UTF_8), metadata(valueBytes));
                            long us = (System.nanoTime() - t0) / 1000;
                            recent.add(key);
                            if (recent.size() > keys) {
                                recent.remove(0);
                            }
                            if (measured) {
                                puts.recordValue(Math.max(1, us));
                                putCount.incrementAndGet();
                                bytes.addAndGet(valueBytes);
                            }
                        } else {
                            String key = recent.get(rnd.nextInt(recent.size()));
                            long t0 = System.nanoTime();
                            boolean there = j.exists((key + "metadata").getBytes(StandardCharsets.UTF_8));
                            byte[] meta = there ? j.get((key + "metadata").getBytes(StandardCharsets.UTF_8)) : null;
                            byte[] kv = meta != null ? j.get((key + "kv_bytes").getBytes(StandardCharsets.UTF_8)) : null;
                            long us = (System.nanoTime() - t0) / 1000;
                            if (measured) {
                                gets.recordValue(Math.max(1, us));
                                getCount.incrementAndGet();
                                if (kv == null) {
                                    misses.incrementAndGet();
                                } else {
                                    bytes.addAndGet(kv.length);
                                    if (kv.length != valueBytes || !stamped(kv, key)) {
                                        wrong.incrementAndGet();
                                    }
                                }
                            }
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                } finally {
                    done.countDown();
                }
            }, "bench-kv-resp-client-" + c);
            t.start();
        }
        double cpuFrom;
        try {
            long untilMeasured = measureFrom - System.nanoTime();
            if (untilMeasured > 0 && done.await(untilMeasured, TimeUnit.NANOSECONDS)) {
                throw new IllegalStateException(system + ": clients ended during the warm-up");
            }
            cpuFrom = cpuSeconds(redisPid);
            if (!done.await((long) (warmup + seconds) + 600, TimeUnit.SECONDS)) {
                throw new IllegalStateException(system + ": clients did not finish");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (!errors.isEmpty()) {
            throw new IllegalStateException(system + ": a client failed: " + errors.get(0), errors.get(0));
        }
        double cpu = cpuSeconds(redisPid) - cpuFrom;
        double measuredSeconds = Math.max(1e-3, (System.nanoTime() - measureFrom) / 1e9);
        return new Result(system, measuredSeconds, putCount.get(), getCount.get(), misses.get(), wrong.get(), bytes.get(),
                puts, gets, cpu);
    }

    /** CPU seconds used so far by this JVM and (when {@code redisPid} is positive) the redis-server process. */
    private static double cpuSeconds(long redisPid) {
        double jvm = java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() / 1e9 : 0;
        if (redisPid <= 0) {
            return jvm;
        }
        try {
            // /proc/<pid>/stat: utime and stime (clock ticks, 100 per second on Linux) are fields 14 and 15
            String stat = Files.readString(Path.of("/proc", String.valueOf(redisPid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return jvm + (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return jvm;
        }
    }

    /** Marks a value with its key (first and last 8 bytes), so a read of another value is detected. */
    static void stamp(byte[] value, String key) {
        long h = net.openhft.hashing.LongHashFunction.xx3().hashChars(key);
        ByteBuffer.wrap(value).putLong(0, h).putLong(value.length - 8, ~h);
    }

    static boolean stamped(byte[] value, String key) {
        long h = net.openhft.hashing.LongHashFunction.xx3().hashChars(key);
        ByteBuffer b = ByteBuffer.wrap(value);
        return b.getLong(0) == h && b.getLong(value.length - 8) == ~h;
    }

    private static byte[] metadata(int length) {
        return ByteBuffer.allocate(28).putInt(length).putInt(61).putInt(2).putInt(256).putInt(576).putInt(2).putInt(1).array();
    }

    private static void awaitRedis(int port) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Jedis j = new Jedis("127.0.0.1", port)) {
                if ("PONG".equals(j.ping())) {
                    return;
                }
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("redis-server on port " + port + " did not answer PING in 20 s", e);
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException(ie);
                }
            }
        }
    }

    static boolean onPath(String tool) {
        if (tool.contains(File.separator)) {
            return Files.isExecutable(Path.of(tool));
        }
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}
