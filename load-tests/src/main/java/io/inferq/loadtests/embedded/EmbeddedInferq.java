package io.inferq.loadtests.embedded;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.embedded.FreePorts;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.server.InferqServer;
import io.inferq.server.config.ConfigLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * Starts an in-process inferq (embedded KRaft broker + Hazelcast member) on free ports, on the embedded
 * defaults, then the {@code INFERQ_*} environment variables (as for {@code serve}), then the load test's edits: the simulated pools' time-scale, the routing policy, optionally the
 * policy simulator's fleet (so the real pipeline and {@link PolicySimulator} run the same pools), a bench
 * tenant without queue limits, and the roles. Blocks until the server is ready (60 s at most).
 */
public final class EmbeddedInferq {

    /** The fleet to run. */
    public enum Fleet {
        /** inferq's embedded default: mixed chips and models. */
        DEFAULTS,
        /** {@link PolicySimulator.Settings#defaults()}: one model, the simulator's pools. */
        SIMULATOR
    }

    /** Everything a launch may change; {@code null} fields keep the embedded default. */
    public record Options(double timeScale, String policy, Fleet fleet, List<String> roles, String benchApiKey,
                          Path dataDir, Integer httpPort, Integer kafkaPort, Integer hazelcastPort, String clusterName,
                          Integer maxQueuedJobs, Consumer<ObjectNode> extra) {

        public static Options defaults() {
            return new Options(1.0, null, Fleet.DEFAULTS, null, null, null, null, null, null, null, null, t -> { });
        }

        public Options timeScale(double s) {
            return new Options(s, policy, fleet, roles, benchApiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueuedJobs, extra);
        }

        public Options policy(String p) {
            return new Options(timeScale, p, fleet, roles, benchApiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueuedJobs, extra);
        }

        public Options fleet(Fleet f) {
            return new Options(timeScale, policy, f, roles, benchApiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueuedJobs, extra);
        }

        public Options roles(List<String> r) {
            return new Options(timeScale, policy, fleet, r, benchApiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueuedJobs, extra);
        }

        /** A tenant {@code bench} with this API key, no rate limit and {@code maxQueued} active jobs. */
        public Options benchTenant(String apiKey, int maxQueued) {
            return new Options(timeScale, policy, fleet, roles, apiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueued, extra);
        }

        public Options ports(Path dir, int http, int kafka, int hazelcast, String cluster) {
            return new Options(timeScale, policy, fleet, roles, benchApiKey, dir, http, kafka, hazelcast, cluster,
                    maxQueuedJobs, extra);
        }

        public Options extra(Consumer<ObjectNode> e) {
            return new Options(timeScale, policy, fleet, roles, benchApiKey, dataDir, httpPort, kafkaPort, hazelcastPort,
                    clusterName, maxQueuedJobs, e);
        }
    }

    private EmbeddedInferq() {
    }

    /** The config tree these options produce with this process's environment (also what {@code serve} binds). */
    public static ObjectNode config(Options o) {
        return config(o, System.getenv());
    }

    /**
     * The config tree: the defaults, then the {@code INFERQ_*} variables of {@code env} (as for {@code serve}),
     * then these options, which win.
     *
     * @throws io.inferq.server.config.ConfigException if a variable names no setting
     */
    public static ObjectNode config(Options o, java.util.Map<String, String> env) {
        ObjectNode tree = ConfigLoader.defaults();
        ConfigLoader.applyEnvironment(tree, env);
        tree.put("data-dir", (o.dataDir() != null ? o.dataDir() : tempDir()).toString());
        ((ObjectNode) tree.get("http")).put("port", o.httpPort() != null ? o.httpPort() : 0);
        ObjectNode kafka = (ObjectNode) tree.get("kafka");
        kafka.put("port", o.kafkaPort() != null ? o.kafkaPort() : 0).put("controller-port", 0).put("partitions", 3);
        ObjectNode hz = (ObjectNode) tree.get("hazelcast");
        hz.put("port", o.hazelcastPort() != null ? o.hazelcastPort() : freePort())
                .put("cluster-name", o.clusterName() != null ? o.clusterName()
                        : "inferq-load-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        if (o.fleet() == Fleet.SIMULATOR) {
            ArrayNode pools = tree.putArray("pools");
            PolicySimulator.Settings s = PolicySimulator.Settings.defaults();
            for (PolicySimulator.SimPool p : s.pools()) {
                pools.addObject().put("id", p.id() + "-sim").put("chip", p.chipId())
                        .put("chips-per-instance", p.chipsPerInstance()).put("instances", p.instances())
                        .put("model", s.model()).put("backend", "simulated").put("max-batch-tokens", p.maxBatchTokens())
                        .put("max-concurrent-sequences", p.maxSequences());
            }
        }
        tree.withArray("pools").forEach(p -> ((ObjectNode) p).put("time-scale", o.timeScale()));
        if (o.policy() != null) {
            ((ObjectNode) tree.get("dispatcher")).put("policy", o.policy());
        }
        if (o.roles() != null) {
            ArrayNode roles = tree.putArray("roles");
            o.roles().forEach(roles::add);
        }
        if (o.benchApiKey() != null) {
            ObjectNode t = tree.putArray("tenants").addObject();
            t.put("id", "bench").put("max-queued-jobs", o.maxQueuedJobs() == null ? 2_000_000 : o.maxQueuedJobs())
                    .put("requests-per-second", 1_000_000.0);
            t.putArray("api-keys").add(o.benchApiKey());
            // with a tenant configured, /metrics needs the operator key
            ObjectNode http = tree.has("http") ? (ObjectNode) tree.get("http") : tree.putObject("http");
            http.put("operator-key", operatorKey(o.benchApiKey()));
        }
        o.extra().accept(tree);
        return tree;
    }

    /** Starts and waits until ready. */
    public static InferqServer start(Options o) {
        return InferqServer.start(ConfigLoader.bind(config(o))).awaitReady(Duration.ofSeconds(60));
    }

    public static Path tempDir() {
        try {
            return Files.createTempDirectory("inferq-load");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** @return a free port, never one handed out before in this JVM ({@link FreePorts}) */
    public static int freePort() {
        return FreePorts.pick();
    }

    /** @return the operator key (for {@code /metrics}) of a server started with {@code benchApiKey} */
    public static String operatorKey(String benchApiKey) {
        return "operator-" + benchApiKey;
    }
}
