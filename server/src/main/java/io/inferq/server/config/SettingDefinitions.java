package io.inferq.server.config;

import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.workers.backend.SimulatedBackend;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every scalar setting of {@link InferqConfig} declared once, in the manner of Kafka's {@code ConfigDef}: its key, type,
 * default, bounds and doc. Lists of objects ({@code tenants}, {@code pools}) are described in the README.
 *
 * <p>What holds the declarations to the rest: {@code SettingDefinitionsTest} checks that {@code inferq-defaults.yaml}
 * holds exactly these keys with these defaults, that the loader rejects a value just outside each declared bound with
 * a message naming the key, and that the README's configuration table documents every key with its default.
 * Cross-setting rules (for example {@code workers.session-timeout-ms} at most {@code workers.lease-ms}) are checked by
 * the config records and stated in the docs here.
 */
final class SettingDefinitions {

    /** A setting's value type. */
    public enum Type { STRING, INT, LONG, DOUBLE, BOOLEAN, LIST, MAP, PATH }

    /**
     * Bounds of a value: numeric {@code min}/{@code max} (null: unbounded), or a closed set of {@code choices} (empty: any).
     */
    public record Bounds(Double min, Double max, List<String> choices) {
        public static final Bounds NONE = new Bounds(null, null, List.of());

        public static Bounds atLeast(double min) {
            return new Bounds(min, null, List.of());
        }

        public static Bounds between(double min, double max) {
            return new Bounds(min, max, List.of());
        }

        public static Bounds oneOf(String... choices) {
            return new Bounds(null, null, List.of(choices));
        }

        /** The dispatcher's own bounds of one of its settings (declared once, in {@link DispatchConfig.Bound}). */
        public static Bounds of(DispatchConfig.Bound b) {
            return new Bounds(b.min(), b.max() == Double.POSITIVE_INFINITY ? null : b.max(), List.of());
        }

        @Override
        public String toString() {
            if (!choices.isEmpty()) {
                return "one of " + String.join(", ", choices);
            }
            if (min != null && max != null) {
                return fmt(min) + "-" + fmt(max);
            }
            return min != null ? "at least " + fmt(min) : max != null ? "at most " + fmt(max) : "any";
        }

        private static String fmt(double d) {
            return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
        }
    }

    /**
     * One setting.
     *
     * @param key          the dotted path ({@code http.port}); {@code INFERQ_HTTP_PORT} in the environment
     * @param defaultValue as written in {@code inferq-defaults.yaml} (lists as {@code [a, b]}); null: none
     */
    public record Setting(String key, Type type, String defaultValue, Bounds bounds, String doc) {
    }

    private static final Map<String, Setting> ALL = new LinkedHashMap<>();

    private static void define(String key, Type type, String defaultValue, Bounds bounds, String doc) {
        if (ALL.put(key, new Setting(key, type, defaultValue, bounds, doc)) != null) {
            throw new IllegalStateException(key + " is declared twice");
        }
    }

    static {
        define("data-dir", Type.PATH, "./data", Bounds.NONE, "embedded broker's log and the default tenant's webhook secret");
        define("process-id", Type.STRING, null, Bounds.NONE, "stable id of a process (transactional ids, static group membership)");
        define("roles", Type.LIST, "[ingress, dispatcher, workers]", Bounds.NONE, "what this process runs");
        define("http.host", Type.STRING, "127.0.0.1", Bounds.NONE, "HTTP listener interface (loopback only by default)");
        define("http.port", Type.INT, "8080", Bounds.between(0, 65535), "HTTP listener port (0 picks a free port)");
        define("http.max-body-bytes", Type.INT, "4194304", Bounds.between(1024, InferqConfig.Http.MAX_BODY_BYTES),
                "largest body any tenant may send (at most half the largest Kafka record)");
        define("http.idle-timeout-ms", Type.LONG, "60000", Bounds.atLeast(100), "idle kept-alive connections are closed after this");
        define("http.header-timeout-ms", Type.LONG, "10000", Bounds.atLeast(100), "a new connection's first headers must arrive within this");
        define("http.body-timeout-ms", Type.LONG, "30000", Bounds.atLeast(100), "a request's body must arrive within this of its headers");
        define("http.max-connections", Type.INT, "10000", Bounds.atLeast(1), "connections one process holds");
        define("http.operator-key", Type.STRING, null, Bounds.NONE, "bearer key for operator endpoints; at least 12 characters");
        define("http.sync-wait-ms", Type.LONG, "120000", Bounds.between(1000, 3_600_000),
                "how long a synchronous /v1/chat/completions waits before 504 with the job id");
        define("kafka.embedded", Type.BOOLEAN, "true", Bounds.NONE, "run a KRaft broker in the JVM");
        define("kafka.port", Type.INT, "9092", Bounds.between(0, 65535), "embedded broker's listener");
        define("kafka.controller-port", Type.INT, "9093", Bounds.between(0, 65535), "embedded broker's controller listener");
        define("kafka.bootstrap-servers", Type.STRING, null, Bounds.NONE, "external cluster (with kafka.embedded false)");
        define("kafka.partitions", Type.INT, "6", Bounds.between(1, 1000), "partitions of request, result, event and pool topics");
        define("kafka.replication-factor", Type.INT, "1", Bounds.between(1, 5), "for topics created at start (1 with the embedded broker)");
        define("kafka.client", Type.MAP, "{}", Bounds.NONE, "extra properties for every Kafka client");
        define("hazelcast.embedded", Type.BOOLEAN, "true", Bounds.NONE, "run a member in the JVM");
        define("hazelcast.port", Type.INT, "5701", Bounds.between(1, 65535), "member port");
        define("hazelcast.cluster-name", Type.STRING, "inferq", Bounds.NONE, "cluster name");
        define("hazelcast.members", Type.LIST, "[127.0.0.1]", Bounds.NONE, "TCP-IP join members or cluster addresses");
        define("dispatcher.policy", Type.STRING, "estimated-completion",
                Bounds.oneOf(RoutingPolicies.NAMES.toArray(String[]::new)), "routing policy");
        define("dispatcher.bucket-edges", Type.LIST, "[256, 1024, 4096, 16384, 65536]", Bounds.NONE, "prompt-length buckets");
        define("dispatcher.interactive-max-wait-ms", Type.LONG, "50", Bounds.of(DispatchConfig.Bound.INTERACTIVE_MAX_WAIT_MS),
                "send a partial interactive batch after this");
        define("dispatcher.dispatch-to-idle-instances", Type.BOOLEAN, "true", Bounds.NONE, "interactive jobs go at once to an idle instance");
        define("dispatcher.batch-max-wait-ms", Type.LONG, "2000", Bounds.of(DispatchConfig.Bound.BATCH_MAX_WAIT_MS),
                "send a partial batch-lane batch after this");
        define("dispatcher.batch-promotion-after-ms", Type.LONG, "30000", Bounds.of(DispatchConfig.Bound.BATCH_PROMOTION_AFTER_MS),
                "a batch-lane bucket this old competes with interactive work");
        // narrower than DispatchConfig.Bound.MAX_QUEUED_JOBS: the service's intake gives each lane half of it, at least 1
        define("dispatcher.max-queued-jobs", Type.INT, "20000", Bounds.atLeast(2), "the dispatcher's window");
        define("dispatcher.tenant-queued-tokens", Type.LONG, "2000000000", Bounds.of(DispatchConfig.Bound.DEFAULT_TENANT_QUEUED_TOKENS),
                "default per-tenant quota of queued tokens");
        define("dispatcher.max-in-flight-batches-per-instance", Type.INT, "4", Bounds.of(DispatchConfig.Bound.MAX_IN_FLIGHT_BATCHES_PER_INSTANCE),
                "batch credits per pool instance");
        define("dispatcher.shared-credits", Type.BOOLEAN, "false", Bounds.NONE,
                "several dispatcher processes share one set of batch credits per pool instance (in Hazelcast)");
        define("dispatcher.headroom-credits", Type.INT, "0", Bounds.of(DispatchConfig.Bound.HEADROOM_CREDITS),
                "free credits per pool kept for work below its share (0 = fully work-conserving)");
        define("dispatcher.headroom-window-ms", Type.LONG, "30000", Bounds.of(DispatchConfig.Bound.HEADROOM_WINDOW_MS),
                "how long seen interactive work or tenants keep the headroom reserved");
        define("dispatcher.headroom-idle-instances", Type.INT, "0", Bounds.of(DispatchConfig.Bound.HEADROOM_IDLE_INSTANCES),
                "idle instances per model kept for work below its share (with headroom-credits > 0)");
        define("dispatcher.batch-yield-delay-ms", Type.LONG, "0", Bounds.between(0, 60_000),
                "the batch lane yields when interactive intake meets more queuing delay than this (0 = not paced)");
        define("dispatcher.service-time-calibration", Type.BOOLEAN, "true", Bounds.NONE,
                "learn each pool's prefill and decode times from the batches it ran (false: the configured roofline figures)");
        define("dispatcher.prefix-overlap-weight", Type.DOUBLE, "1.0", Bounds.of(DispatchConfig.Bound.PREFIX_OVERLAP_WEIGHT),
                "how much routing trusts cached prefixes");
        define("dispatcher.fairness.enabled", Type.BOOLEAN, "true", Bounds.NONE, "fair sharing between tenants");
        define("dispatcher.fairness.fair-credits", Type.BOOLEAN, "true", Bounds.NONE,
                "per instance, as many credits as the pool's sequence cap on top, for tenants below their share");
        define("dispatcher.fairness.prefill-weight", Type.DOUBLE, "1.0", Bounds.NONE, "service per uncached prompt token (positive)");
        define("dispatcher.fairness.decode-weight", Type.DOUBLE, "2.0", Bounds.NONE, "service per output token (positive)");
        define("dispatcher.fairness.affinity-budget-tokens", Type.LONG, "65536", Bounds.atLeast(0),
                "how far ahead of the least-served tenant prefix affinity may favour a tenant");
        define("workers.max-attempts", Type.INT, "3", Bounds.atLeast(1), "retriable failures before a job fails");
        define("workers.lease-ms", Type.LONG, "300000", Bounds.atLeast(10_000), "how long a slot may go without polling (its engine calls run beside it)");
        define("workers.session-timeout-ms", Type.LONG, "10000", Bounds.atLeast(6000),
                "how fast a dead worker's batch moves; at most workers.lease-ms");
        define("workers.simulated-engine", Type.STRING, "continuous", Bounds.oneOf(simulatedEngineModels()),
                "how simulated pools time batches: continuous (one continuous-batching engine per instance, shared by "
                        + "its batches) or static (each batch as if alone on its instance)");
        define("kv-cache.enabled", Type.BOOLEAN, "true", Bounds.NONE, "the KV cache tiers");
        define("kv-cache.block-tokens", Type.INT, "64", Bounds.between(1, 4096), "tokens per KV block");
        define("kv-cache.local-tier-bytes", Type.LONG, "268435456", Bounds.atLeast(0), "local (Caffeine) tier size");
        define("kv-cache.shared-tier-bytes", Type.LONG, "1073741824", Bounds.atLeast(0), "shared (Hazelcast) tier size");
        define("kv-cache.network-gbps", Type.DOUBLE, "100", Bounds.NONE, "network bandwidth for transfer-time estimates (positive)");
        define("kv-cache.simulated-payload-scale-down", Type.INT, "64", Bounds.atLeast(1),
                "simulated pools store KV payloads this many times smaller");
        define("kv-cache.resp-port", Type.INT, "-1", Bounds.between(-1, 65535), "remote KV tier port: -1 off, 0 a free port");
        define("kv-cache.resp-host", Type.STRING, "127.0.0.1", Bounds.NONE, "remote KV tier interface");
        define("kv-cache.resp-max-value-bytes", Type.INT, "67108864", Bounds.atLeast(1), "largest value a SET may carry");
        define("kv-cache.resp-max-inflight-bytes", Type.LONG, "1073741824", Bounds.NONE,
                "values in flight on all connections; at least kv-cache.resp-max-value-bytes");
        define("kv-cache.resp-local-bytes", Type.LONG, "268435456", Bounds.atLeast(0), "this process's Caffeine copy of values");
        define("kv-cache.resp-shared-bytes", Type.LONG, "1073741824", Bounds.atLeast(1 << 20), "per Hazelcast member: bound of the chunks");
        define("kv-cache.resp-backup-count", Type.INT, "1", Bounds.between(0, 6), "Hazelcast backups of each chunk");
        define("webhooks.timeout-ms", Type.LONG, "15000", Bounds.between(100, 120_000), "per attempt");
        define("webhooks.inline-output-limit", Type.INT, "16384", Bounds.atLeast(0), "longer outputs are sent as a link");
        define("webhooks.allow-private-targets", Type.LIST, "[]", Bounds.NONE, "hosts/CIDRs allowed although private");
        define("retention.finished-job-hours", Type.INT, "24", Bounds.between(1, 720), "a finished job stays queryable this long");
        define("retention.terminal-claim-days", Type.INT, "14", Bounds.between(8, 365), "terminal-state claims are kept this long");
        define("batches.completion-window-seconds", Type.LONG, "86400", Bounds.atLeast(1), "how long a \"24h\" batch may run");
        define("batches.max-lines", Type.INT, "50000", Bounds.between(1, 1_000_000), "requests in one batch input file");
        define("batches.max-file-bytes", Type.LONG, "200000000", Bounds.atLeast(1024), "largest uploaded file");
        define("batches.max-errors", Type.INT, "1000", Bounds.atLeast(1), "validation errors listed in a failed batch");
        define("batches.tenant-max-stored-bytes", Type.LONG, "10737418240", Bounds.NONE,
                "file bytes one tenant may store; at least batches.max-file-bytes");
        define("batches.tenant-max-batches-in-progress", Type.INT, "100", Bounds.atLeast(1), "unfinished batches per tenant");
        define("batches.tenant-max-lines-in-progress", Type.LONG, "1000000", Bounds.atLeast(1), "requests in one tenant's unfinished batches");
        define("batches.file-expiry-days", Type.INT, "30", Bounds.between(1, 365), "files without an explicit expiry are deleted after this");
    }

    private SettingDefinitions() {
    }

    private static String[] simulatedEngineModels() {
        return java.util.Arrays.stream(SimulatedBackend.EngineModel.values()).map(SimulatedBackend.EngineModel::configName)
                .toArray(String[]::new);
    }

    /** @return every declared setting, in declaration order */
    public static List<Setting> all() {
        return Collections.unmodifiableList(new ArrayList<>(ALL.values()));
    }

    /** @return the declaration of {@code key}, or null */
    public static Setting get(String key) {
        return ALL.get(key);
    }

    /**
     * Holds a value to its declared bounds; the config records call this for each bounded setting, so the bounds are
     * written once, here.
     *
     * @throws ConfigException naming the setting and its bounds when {@code value} is outside them
     */
    static void check(String key, long value) {
        check(key, value, "");
    }

    /** As {@link #check(String, long)}; {@code why} (for example {@code " (0 picks a free port)"}) follows the bounds. */
    static void check(String key, long value, String why) {
        if (!within(declared(key).bounds(), value)) {
            throw new ConfigException(key + " must be " + declared(key).bounds() + why + ", was " + value);
        }
    }

    /** As {@link #check(String, long)} for a {@code DOUBLE} setting. */
    static void check(String key, double value) {
        if (!within(declared(key).bounds(), value)) {
            throw new ConfigException(key + " must be " + declared(key).bounds() + ", was " + value);
        }
    }

    /** A setting whose bounds are a closed set of choices. */
    static void checkChoice(String key, String value) {
        List<String> choices = declared(key).bounds().choices();
        if (!choices.contains(value)) {
            throw new ConfigException(key + " must be one of " + String.join(", ", choices) + "; was '" + value + "'");
        }
    }

    /** @return the declared default of a numeric setting */
    static long defaultLong(String key) {
        return Long.parseLong(declared(key).defaultValue());
    }

    /** @return the declared default of an {@code INT} setting */
    static int defaultInt(String key) {
        return Math.toIntExact(defaultLong(key));
    }

    private static boolean within(Bounds b, double value) {
        return (b.min() == null || value >= b.min()) && (b.max() == null || value <= b.max());
    }

    private static Setting declared(String key) {
        Setting s = ALL.get(key);
        if (s == null) {
            throw new IllegalStateException(key + " is not declared in SettingDefinitions");
        }
        return s;
    }
}
