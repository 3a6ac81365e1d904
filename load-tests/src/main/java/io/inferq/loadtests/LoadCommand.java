package io.inferq.loadtests;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.loadtests.bench.BurstBenchmark;
import io.inferq.loadtests.bench.FairnessBenchmark;
import io.inferq.loadtests.bench.MemoryBenchmark;
import io.inferq.loadtests.bench.PipelineOverheadBenchmark;
import io.inferq.loadtests.bench.PolicyBenchmark;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.HttpTarget;
import io.inferq.loadtests.replay.StreamingHttpTarget;
import io.inferq.loadtests.replay.KafkaTarget;
import io.inferq.loadtests.replay.PollTracker;
import io.inferq.loadtests.replay.PromptBudget;
import io.inferq.loadtests.replay.ReplayPlan;
import io.inferq.loadtests.replay.Replayer;
import io.inferq.loadtests.replay.ResultFollower;
import io.inferq.loadtests.replay.Target;
import io.inferq.loadtests.replay.Tracker;
import io.inferq.loadtests.report.ReplayReport;
import io.inferq.server.InferqServer;
import io.inferq.server.config.ConfigLoader;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code java -jar inferq-load.jar <command> [--flag value ...]}: trace replay, the benchmarks, and {@code serve}
 * (an inferq process configured for load tests, used as a child process by the memory benchmark).
 */
public final class LoadCommand {
    static final String USAGE = """
            usage: java -jar load-tests/target/inferq-load.jar <command> [--flag value ...]
              replay          replay a trace (Mooncake .jsonl or Azure .csv) against inferq; JSON summary + HTML report
              bench-overhead  raw Kafka vs the full inferq pipeline with an instant backend
              bench-policies  routing policies on both traces: policy simulator + the real pipeline
              bench-burst     Azure bursts at 3x capacity: inferq vs a queue-less provider answering 503
              bench-memory    queue many jobs with workers stopped: server heap and /health latency, then drain
              bench-kv-resp   LMCache's access pattern: inferq's remote KV tier (Redis protocol) vs a real redis-server
              bench-fairness  tenants sharing the simulated fleet: fair sharing vs oldest-first vs each tenant alone
              bench-batch     a 50,000-line batch vs the same jobs one by one; interactive TTFT with a batch running
              bench-kv-routing  precise (engines' KV events) vs approximate vs prefix-blind routing: policy simulator
              sim-policies    the policy simulator's report on any traces: every policy (--mode policies) or prefix routing on/off (--mode prefix)
              kv-experiment   prefix-cache hit ratio on a trace with hash_ids: shared two-tier cache vs private caches vs the bound
              gen-trace       write a synthetic trace (length mixes, burst shapes, prefix reuse) in any supported format
              serve           run an in-process inferq for load tests (embedded broker and Hazelcast)
              chaos           load over HTTP and Kafka while killing the server (kill -9, SIGTERM) and failing webhook
                              receivers and engines; proves nothing is lost or duplicated; one row per fault
            every command's flags, with defaults: README.md, section "Load tests: trace replay and benchmarks\"""";

    private LoadCommand() {
    }

    public static void main(String[] args) {
        io.inferq.server.JvmDefaults.install();
        int rc;
        try {
            rc = run(Arrays.asList(args), System.out);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            rc = 2;
        } catch (RuntimeException | Error e) {
            // exit even though an embedded broker's non-daemon threads may be running (a parent waiting on our output
            // would otherwise wait for ever)
            e.printStackTrace();
            rc = 1;
        }
        System.exit(rc);
    }

    /** Runs a command; returns the exit code. */
    public static int run(List<String> args, PrintStream out) {
        if (args.isEmpty() || args.get(0).equals("--help") || args.get(0).equals("help")) {
            out.println(USAGE);
            return args.isEmpty() ? 2 : 0;
        }
        Flags f = Flags.parse(args.subList(1, args.size()));
        return switch (args.get(0)) {
            case "replay" -> replay(f, out);
            case "serve" -> serve(f, out);
            case "bench-overhead" -> PipelineOverheadBenchmark.run(f, out);
            case "bench-policies" -> PolicyBenchmark.run(f, out);
            case "bench-burst" -> BurstBenchmark.run(f, out);
            case "bench-memory" -> MemoryBenchmark.run(f, out);
            case "chaos" -> io.inferq.loadtests.chaos.ChaosCommand.run(f, out);
            case "bench-kv-resp" -> io.inferq.loadtests.bench.KvRespBenchmark.run(f, out);
            case "bench-fairness" -> FairnessBenchmark.run(f, out);
            case "bench-batch" -> io.inferq.loadtests.bench.BatchBenchmark.run(f, out);
            case "bench-kv-routing" -> io.inferq.loadtests.bench.KvRoutingBenchmark.run(f, out);
            case "sim-policies" -> io.inferq.loadtests.policy.SimulatorCommand.run(f, out);
            case "kv-experiment" -> io.inferq.loadtests.kvcache.PrefixCacheExperiment.run(f, out);
            case "gen-trace" -> io.inferq.loadtests.trace.SyntheticTrace.run(f, out);
            default -> throw new IllegalArgumentException("unknown command '" + args.get(0) + "'");
        };
    }

    /** A fresh output directory {@code target/load-reports/<name>-<time>} unless {@code --out} names one. */
    public static Path outDir(Flags f, String name) {
        return Path.of(f.string("out", "target/load-reports/" + name + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
    }

    /** {@code --fleet defaults|simulator}. */
    static EmbeddedInferq.Fleet fleet(Flags f) {
        String v = f.string("fleet", "defaults");
        for (EmbeddedInferq.Fleet fl : EmbeddedInferq.Fleet.values()) {
            if (fl.name().equalsIgnoreCase(v)) {
                return fl;
            }
        }
        throw new IllegalArgumentException("--fleet must be defaults or simulator, was '" + v + "'");
    }

    static int replay(Flags f, PrintStream out) {
        TraceFiles.TraceInput input = TraceFiles.input(f, "trace", TraceFiles.CONVERSATION);
        Path trace = input.path();
        String url = f.string("url", null);
        String bootstrap = f.string("bootstrap", null);
        String via = f.string("via", "http");
        boolean stream = f.bool("stream");
        String apiKey = f.string("api-key", null);
        String tenant = f.string("tenant", "default");
        double speedup = f.positive("speedup", 10);
        double timeScale = f.positive("time-scale", speedup);
        double load = f.positive("load", 1.0);
        long fromMs = (long) (f.doubleValue("from-s", 0) * 1000);
        long windowMs = f.has("window-s") ? (long) (f.positive("window-s", 1) * 1000) : Long.MAX_VALUE;
        int maxRequests = f.intValue("max-requests", 1000);
        String model = f.string("model", "deepseek-r1");
        String policy = f.string("policy", null);
        EmbeddedInferq.Fleet fleet = fleet(f);
        PromptBudget.OverBudget overBudget = PromptBudget.OverBudget.parse(f.string("over-budget", "send"));
        Integer promptBudget = f.has("prompt-budget") ? f.intValue("prompt-budget", 0) : null;
        Replayer.Settings s = new Replayer.Settings(speedup, model, f.intValue("max-in-flight", 256),
                f.positive("max-duration-s", 180), f.positive("drain-timeout-s", 120), f.positive("progress-s", 5),
                f.longValue("sample-ms", 500));
        long seed = f.longValue("seed", 42);
        Path dir = outDir(f, "replay");
        f.rejectUnknown();
        if (!via.equals("http") && !via.equals("kafka")) {
            throw new IllegalArgumentException("--via must be http or kafka, was '" + via + "'");
        }
        List<TraceRequest> requests = input.read();
        ReplayPlan plan = ReplayPlan.of(requests, fromMs, windowMs, load, maxRequests, seed);
        out.printf(Locale.ROOT, "trace %s: %d requests; plan: %d requests over %.1f trace s (load %.2f), speedup %.1f → %.1f wall s%n",
                trace.getFileName(), requests.size(), plan.items().size(), plan.spanMs() / 1000.0, load, speedup,
                plan.spanMs() / 1000.0 / speedup);
        ObjectNode config = url == null
                ? EmbeddedInferq.config(EmbeddedInferq.Options.defaults().timeScale(timeScale).policy(policy).fleet(fleet)) : null;
        PromptBudget budget = promptBudget != null ? PromptBudget.fixed(model, promptBudget)
                : config != null ? PromptBudget.ofPools(model, config.get("pools"), "the in-process fleet '" + fleet.name().toLowerCase(Locale.ROOT) + "'")
                : PromptBudget.unknown(model, "unknown (server given by --url; pass --prompt-budget <tokens> to check)");
        budget.explain(budget.check(plan), overBudget).forEach(out::println);
        InferqServer server = null;
        try {
            if (url == null) {
                out.printf(Locale.ROOT, "starting in-process inferq (fleet %s, simulated pools at time-scale %.1f, policy %s)...%n",
                        fleet, timeScale, policy == null ? "default" : policy);
                server = InferqServer.start(ConfigLoader.bind(config)).awaitReady(Duration.ofSeconds(60));
                url = "http://127.0.0.1:" + server.httpPort();
                bootstrap = server.kafkaBootstrapServers();
            }
            if (via.equals("kafka") && bootstrap == null) {
                throw new IllegalArgumentException("--via kafka against --url needs --bootstrap <kafka servers>");
            }
            if (stream && via.equals("kafka")) {
                throw new IllegalArgumentException("--stream needs --via http (a Kafka producer does not stream)");
            }
            Replayer.Result r;
            Map<String, Object> streamed = null;
            try (Tracker tracker = bootstrap != null && !stream ? new ResultFollower(bootstrap) : new PollTracker(url, apiKey);
                 Target target = via.equals("kafka") ? new KafkaTarget(bootstrap, tenant)
                         : stream ? new StreamingHttpTarget(url, apiKey) : new HttpTarget(url, apiKey)) {
                r = Replayer.run(plan, s, budget, overBudget, target, tracker, url, out);
                if (target instanceof StreamingHttpTarget st) {
                    streamed = st.summary();
                }
            }
            Map<String, Object> ctx = new LinkedHashMap<>();
            ctx.put("command", "replay");
            ctx.put("trace", trace.toString());
            ctx.put("target", via + " " + url);
            ctx.put("model", model);
            ctx.put("speedup", speedup);
            ctx.put("pool_time_scale", server != null ? timeScale : null);
            ctx.put("load", load);
            ctx.put("policy", policy == null ? "server default" : policy);
            Map<String, Object> summary = ReplayReport.summary(r, ctx);
            if (streamed != null) {
                out.println("streaming (as the client sees it): " + streamed);
            }
            Path html = ReplayReport.write(dir, "inferq replay — " + trace.getFileName(), r, summary);
            out.println("summary: " + summary);
            out.println(ReplayReport.outcomeLine(summary));
            out.println("report: " + html.toAbsolutePath());
            return 0;
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    static int serve(Flags f, PrintStream out) {
        EmbeddedInferq.Options o = EmbeddedInferq.Options.defaults()
                .timeScale(f.positive("time-scale", 1.0))
                .policy(f.string("policy", null))
                .fleet(fleet(f));
        // every flag is read whatever else is given, so none is reported unknown because another is missing
        String roles = f.string("roles", null);
        String benchKey = f.string("bench-key", null);
        int maxQueuedJobs = f.intValue("max-queued-jobs", 2_000_000);
        String dataDir = f.string("data-dir", null);
        int httpPort = f.intValue("http-port", 0);
        int kafkaPort = f.intValue("kafka-port", 0);
        Integer hazelcastPort = f.has("hazelcast-port") ? f.intValue("hazelcast-port", 0) : null;
        String clusterName = f.string("cluster-name", "inferq-load");
        f.rejectUnknown();
        if (roles != null) {
            o = o.roles(List.of(roles.split(",")));
        }
        if (benchKey != null) {
            o = o.benchTenant(benchKey, maxQueuedJobs);
        }
        if (dataDir != null) {
            o = o.ports(Path.of(dataDir), httpPort, kafkaPort, hazelcastPort != null ? hazelcastPort : EmbeddedInferq.freePort(),
                    clusterName);
        } else if (httpPort != 0 || kafkaPort != 0 || hazelcastPort != null || f.has("cluster-name")) {
            throw new IllegalArgumentException("--http-port, --kafka-port, --hazelcast-port and --cluster-name need --data-dir");
        }
        InferqServer server = EmbeddedInferq.start(o);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stop.countDown();
        }, "inferq-load-stop"));
        out.printf(Locale.ROOT, "READY http=http://127.0.0.1:%d kafka=%s%n", server.httpPort(), server.kafkaBootstrapServers());
        out.flush();
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
