package io.inferq.server.config;

import io.inferq.workers.backend.SimulatedBackend;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The whole configuration of one inferq process, typed and validated: every constructor checks its
 * settings and names the offending one in its message ({@code http.port must be 0-65535, was -1}); the bounds of each
 * setting are those {@link SettingDefinitions} declares, and the constructors add only the rules between settings.
 * Loaded by {@link ConfigLoader} from {@code inferq-defaults.yaml}, an optional file and
 * {@code INFERQ_*} environment variables. Immutable.
 */
public record InferqConfig(Path dataDir, String processId, List<Role> roles, Http http, Kafka kafka, Hazelcast hazelcast,
        Dispatcher dispatcher, Workers workers, KvCache kvCache, Webhooks webhooks, Retention retention,
        List<TenantSetting> tenants, List<PoolSetting> pools, Batches batches) {

    /** What a process runs. */
    public enum Role { INGRESS, DISPATCHER, WORKERS }

    public InferqConfig {
        require(dataDir != null, "data-dir must be set");
        require(retention != null, "retention must be set");
        require(roles != null && !roles.isEmpty(), "roles must list at least one of ingress, dispatcher, workers");
        require(new HashSet<>(roles).size() == roles.size(), "roles must not repeat a role");
        roles = List.copyOf(roles);
        tenants = tenants == null ? List.of() : List.copyOf(tenants);
        pools = pools == null ? List.of() : List.copyOf(pools);
        require(!pools.isEmpty() || !roles.contains(Role.WORKERS) && !roles.contains(Role.DISPATCHER),
                "pools must list at least one pool when the dispatcher or workers role runs");
        batches = batches == null ? Batches.DEFAULTS : batches;
        Set<String> ids = new HashSet<>();
        for (PoolSetting p : pools) {
            require(ids.add(p.id()), "pools: id '" + p.id() + "' is configured twice");
        }
    }

    public boolean runs(Role role) {
        return roles.contains(role);
    }

    static void require(boolean ok, String message) {
        if (!ok) {
            throw new ConfigException(message);
        }
    }

    static void requirePort(int port, String name) {
        SettingDefinitions.check(name, port, " (0 picks a free port)");
    }

    /** HTTP listener. */
    public record Http(String host, int port, int maxBodyBytes, long idleTimeoutMs, long headerTimeoutMs, long bodyTimeoutMs,
            int maxConnections, String operatorKey, long syncWaitMs) {
        public Http {
            SettingDefinitions.check("http.idle-timeout-ms", idleTimeoutMs);
            SettingDefinitions.check("http.header-timeout-ms", headerTimeoutMs);
            SettingDefinitions.check("http.body-timeout-ms", bodyTimeoutMs);
            SettingDefinitions.check("http.max-connections", maxConnections);
            require(operatorKey == null || operatorKey.length() >= 12, "http.operator-key must be at least 12 characters");
            SettingDefinitions.check("http.sync-wait-ms", syncWaitMs, " (how long a synchronous /v1/chat/completions waits before it"
                    + " answers 504 with the job id)");
            require(host != null && !host.isBlank(), "http.host must be set");
            requirePort(port, "http.port");
            SettingDefinitions.check("http.max-body-bytes", maxBodyBytes,
                    " (at most half the largest Kafka record inferq writes, so a job's request record always fits)");
        }

        /** Upper bound of {@code http.max-body-bytes}: half of {@link io.inferq.broker.topics.TopicCatalogue#MAX_RECORD_BYTES}. */
        public static final int MAX_BODY_BYTES = io.inferq.broker.topics.TopicCatalogue.MAX_RECORD_BYTES / 2;
    }

    /** Kafka: embedded broker or external cluster. */
    public record Kafka(boolean embedded, int port, int controllerPort, String bootstrapServers, int partitions,
            int replicationFactor, Map<String, String> client) {
        public Kafka {
            if (embedded) {
                requirePort(port, "kafka.port");
                requirePort(controllerPort, "kafka.controller-port");
                require(port == 0 || port != controllerPort, "kafka.port and kafka.controller-port must differ");
            } else {
                require(bootstrapServers != null && !bootstrapServers.isBlank(),
                        "kafka.bootstrap-servers must be set when kafka.embedded is false");
            }
            SettingDefinitions.check("kafka.partitions", partitions);
            SettingDefinitions.check("kafka.replication-factor", replicationFactor);
            require(!embedded || replicationFactor == 1, "kafka.replication-factor must be 1 with the embedded broker");
            client = client == null ? Map.of() : Map.copyOf(client);
        }
    }

    /** Hazelcast: embedded member or client of an external cluster. */
    public record Hazelcast(boolean embedded, int port, String clusterName, List<String> members) {
        public Hazelcast {
            SettingDefinitions.check("hazelcast.port", port);
            require(clusterName != null && !clusterName.isBlank(), "hazelcast.cluster-name must be set");
            require(members != null && !members.isEmpty(), "hazelcast.members must list at least one address");
            members = List.copyOf(members);
        }
    }

    /**
     * Dispatcher scheduling limits (see the dispatcher module's DispatchConfig).
     *
     * @param sharedCredits    several dispatcher processes draw on one set of batch credits per pool instance, kept in
     *                         Hazelcast (README "Several dispatchers")
     * @param headroomCredits  free credits per pool kept for work below its share (README "Headroom credits")
     * @param headroomWindowMs how long interactive work or a tenant, once seen, keeps the headroom reserved
     * @param headroomIdleInstances instances per pool kept idle for work below its share (README "Headroom credits")
     * @param serviceTimeCalibration learn each pool's service times from the batches it ran (README "Service times
     *                         learned online"); false keeps the configured (roofline) figures
     * @param batchYieldDelayMs the batch lane yields when interactive intake meets more queuing delay than this (README
     *                         "Batch-lane yield"); 0: the batch lane is not paced
     */
    public record Dispatcher(String policy, List<Integer> bucketEdges, long interactiveMaxWaitMs, long batchMaxWaitMs,
            long batchPromotionAfterMs, int maxQueuedJobs, long tenantQueuedTokens, int maxInFlightBatchesPerInstance,
            double prefixOverlapWeight, boolean dispatchToIdleInstances, Fairness fairness,
            boolean sharedCredits, int headroomCredits, long headroomWindowMs, int headroomIdleInstances,
            boolean serviceTimeCalibration, long batchYieldDelayMs) {
        public Dispatcher {
            SettingDefinitions.checkChoice("dispatcher.policy", policy);
            require(bucketEdges != null && !bucketEdges.isEmpty(), "dispatcher.bucket-edges must list at least one edge");
            bucketEdges = List.copyOf(bucketEdges);
            SettingDefinitions.check("dispatcher.interactive-max-wait-ms", interactiveMaxWaitMs);
            SettingDefinitions.check("dispatcher.batch-max-wait-ms", batchMaxWaitMs);
            SettingDefinitions.check("dispatcher.batch-promotion-after-ms", batchPromotionAfterMs);
            SettingDefinitions.check("dispatcher.max-queued-jobs", maxQueuedJobs);
            SettingDefinitions.check("dispatcher.tenant-queued-tokens", tenantQueuedTokens);
            SettingDefinitions.check("dispatcher.max-in-flight-batches-per-instance", maxInFlightBatchesPerInstance);
            SettingDefinitions.check("dispatcher.prefix-overlap-weight", prefixOverlapWeight);
            require(fairness != null, "dispatcher.fairness must be set");
            SettingDefinitions.check("dispatcher.headroom-credits", headroomCredits);
            SettingDefinitions.check("dispatcher.headroom-window-ms", headroomWindowMs);
            SettingDefinitions.check("dispatcher.headroom-idle-instances", headroomIdleInstances);
            SettingDefinitions.check("dispatcher.batch-yield-delay-ms", batchYieldDelayMs);
        }
    }

    /**
     * Fair sharing between tenants (the dispatcher's virtual token counters); tenants' weights are {@code tenants[].weight}.
     *
     * @param enabled              serve the backlogged tenant with the least weighted service first; false: oldest first
     * @param prefillWeight        service per prompt token not served from the KV cache
     * @param decodeWeight         service per output token
     * @param affinityBudgetTokens how far (in service tokens) ahead of the least-served backlogged tenant a tenant may be
     *                             and still have prefix affinity take its jobs ahead of their fair turn
     * @param fairCredits          each pool instance also has as many fair credits as the pool's sequence cap, for
     *                             interactive work of tenants below their share of the work in flight, sent at once
     *                             (default true: {@code dispatcher.fairness.fair-credits})
     */
    public record Fairness(boolean enabled, double prefillWeight, double decodeWeight, long affinityBudgetTokens,
                           boolean fairCredits) {
        public Fairness {
            require(prefillWeight > 0 && !Double.isInfinite(prefillWeight),
                    "dispatcher.fairness.prefill-weight must be a positive number, was " + prefillWeight);
            require(decodeWeight > 0 && !Double.isInfinite(decodeWeight),
                    "dispatcher.fairness.decode-weight must be a positive number, was " + decodeWeight);
            SettingDefinitions.check("dispatcher.fairness.affinity-budget-tokens", affinityBudgetTokens);
        }
    }

    /**
     * Worker slots.
     *
     * @param simulatedEngine how simulated pools time their batches: {@code continuous} (one continuous-batching engine
     *                        per instance, shared by the batches on it) or {@code static} (each batch as if alone)
     */
    public record Workers(int maxAttempts, long leaseMs, long sessionTimeoutMs, String simulatedEngine) {
        public Workers {
            SettingDefinitions.check("workers.max-attempts", maxAttempts);
            SettingDefinitions.check("workers.lease-ms", leaseMs);
            SettingDefinitions.check("workers.session-timeout-ms", sessionTimeoutMs);
            require(sessionTimeoutMs <= leaseMs,
                    "workers.session-timeout-ms must be between 6000 and workers.lease-ms, was " + sessionTimeoutMs);
            SettingDefinitions.checkChoice("workers.simulated-engine", simulatedEngine);
        }

        /** @return {@link #simulatedEngine()} as the simulated backend's engine model */
        public SimulatedBackend.EngineModel simulatedEngineModel() {
            return SimulatedBackend.EngineModel.byName(simulatedEngine);
        }
    }

    /**
     * KV cache tiers. The {@code resp-*} settings are the remote KV tier that engines reach over the Redis protocol
     * (LMCache {@code remote_url}); {@code resp-port} -1 turns it off, 0 picks a free port.
     */
    public record KvCache(boolean enabled, int blockTokens, long localTierBytes, long sharedTierBytes, double networkGbps,
            int simulatedPayloadScaleDown, int respPort, String respHost, int respMaxValueBytes, long respMaxInflightBytes,
            long respLocalBytes, long respSharedBytes, int respBackupCount) {
        public KvCache {
            SettingDefinitions.check("kv-cache.resp-port", respPort, " (-1 off, 0 a free port)");
            require(respHost != null && !respHost.isBlank(), "kv-cache.resp-host must be set");
            SettingDefinitions.check("kv-cache.resp-max-value-bytes", respMaxValueBytes);
            require(respMaxInflightBytes >= respMaxValueBytes,
                    "kv-cache.resp-max-inflight-bytes must be at least kv-cache.resp-max-value-bytes, was " + respMaxInflightBytes);
            SettingDefinitions.check("kv-cache.resp-local-bytes", respLocalBytes);
            SettingDefinitions.check("kv-cache.resp-shared-bytes", respSharedBytes);
            SettingDefinitions.check("kv-cache.resp-backup-count", respBackupCount);
            SettingDefinitions.check("kv-cache.simulated-payload-scale-down", simulatedPayloadScaleDown);
            SettingDefinitions.check("kv-cache.block-tokens", blockTokens);
            SettingDefinitions.check("kv-cache.local-tier-bytes", localTierBytes);
            SettingDefinitions.check("kv-cache.shared-tier-bytes", sharedTierBytes);
            require(networkGbps > 0, "kv-cache.network-gbps must be positive");
        }
    }

    /** Webhook delivery. */
    public record Webhooks(long timeoutMs, int inlineOutputLimit, List<String> allowPrivateTargets) {
        public Webhooks {
            SettingDefinitions.check("webhooks.timeout-ms", timeoutMs);
            SettingDefinitions.check("webhooks.inline-output-limit", inlineOutputLimit);
            allowPrivateTargets = allowPrivateTargets == null ? List.of() : List.copyOf(allowPrivateTargets);
            for (String t : allowPrivateTargets) {
                require(t != null && !t.isBlank() && !"true".equalsIgnoreCase(t.trim()) && !"false".equalsIgnoreCase(t.trim()),
                        "webhooks.allow-private-targets is a list of host names, IP addresses or CIDRs that webhooks may call "
                        + "although they are private, e.g. [127.0.0.1, 10.20.0.0/16, hooks.internal]; it is not a switch, was "
                        + allowPrivateTargets);
            }
        }
    }

    /**
     * How long finished jobs and terminal-state claims are kept.
     *
     * @param finishedJobHours  a finished job stays queryable through the API (and in the job view's memory)
     *                          this long after it finished: 1-720
     * @param terminalClaimDays the claim that makes a job's terminal state the only one is kept this long; it
     *                          must outlive the request topics' 7-day retention (a copy of a job read again
     *                          from Kafka must never run again): 8-365
     */
    public record Retention(int finishedJobHours, int terminalClaimDays) {
        public Retention {
            SettingDefinitions.check("retention.finished-job-hours", finishedJobHours);
            SettingDefinitions.check("retention.terminal-claim-days", terminalClaimDays, " (longer than the request topics' 7 days)");
        }

        public java.time.Duration finishedJobs() {
            return java.time.Duration.ofHours(finishedJobHours);
        }

        public java.time.Duration terminalClaims() {
            return java.time.Duration.ofDays(terminalClaimDays);
        }
    }

    /**
     * Batch and Files APIs (see the ingress module's {@code BatchSettings}, which validates them).
     *
     * @param completionWindowSeconds how long a {@code "24h"} batch may run before it expires (shorter for tests)
     */
    public record Batches(long completionWindowSeconds, int maxLines, long maxFileBytes, int maxErrors, long tenantMaxStoredBytes,
            int tenantMaxBatchesInProgress, long tenantMaxLinesInProgress, int fileExpiryDays) {
        static final Batches DEFAULTS = new Batches(SettingDefinitions.defaultLong("batches.completion-window-seconds"),
                SettingDefinitions.defaultInt("batches.max-lines"), SettingDefinitions.defaultLong("batches.max-file-bytes"),
                SettingDefinitions.defaultInt("batches.max-errors"), SettingDefinitions.defaultLong("batches.tenant-max-stored-bytes"),
                SettingDefinitions.defaultInt("batches.tenant-max-batches-in-progress"),
                SettingDefinitions.defaultLong("batches.tenant-max-lines-in-progress"), SettingDefinitions.defaultInt("batches.file-expiry-days"));

        public Batches {
            SettingDefinitions.check("batches.completion-window-seconds", completionWindowSeconds);
            SettingDefinitions.check("batches.max-lines", maxLines);
            SettingDefinitions.check("batches.max-file-bytes", maxFileBytes);
            SettingDefinitions.check("batches.max-errors", maxErrors);
            require(tenantMaxStoredBytes >= maxFileBytes, "batches.tenant-max-stored-bytes must be at least batches.max-file-bytes");
            SettingDefinitions.check("batches.tenant-max-batches-in-progress", tenantMaxBatchesInProgress);
            SettingDefinitions.check("batches.tenant-max-lines-in-progress", tenantMaxLinesInProgress);
            SettingDefinitions.check("batches.file-expiry-days", fileExpiryDays);
        }
    }

    /**
     * A tenant. Optional limits left out take the defaults here ({@code max-queued-jobs} {@value #DEFAULT_MAX_QUEUED_JOBS},
     * {@code requests-per-second} {@value #DEFAULT_REQUESTS_PER_SECOND}) or, for {@code max-request-bytes}, the
     * process's {@code http.max-body-bytes}.
     */
    public record TenantSetting(String id, List<String> apiKeys, Integer maxQueuedJobs, Integer maxRequestBytes,
            Double requestsPerSecond, List<String> webhookSecrets, String cacheSalt, Long queuedTokens, String replyTopicPrefix,
            Double weight) {
        public TenantSetting {
            require(id != null && !id.isBlank(), "tenants[].id must be set");
            require(replyTopicPrefix == null || replyTopicPrefix.matches("[A-Za-z0-9._-]{1,200}") && !replyTopicPrefix.startsWith("__")
                    && !replyTopicPrefix.startsWith("inferq."), "tenants[" + id + "].reply-topic-prefix must be 1-200 characters of"
                    + " A-Z a-z 0-9 . _ - and must not start with '__' or 'inferq.', was '" + replyTopicPrefix + "'");
            require(weight == null || weight > 0 && !weight.isInfinite(),
                    "tenants[" + id + "].weight must be a positive number, was " + weight);
            apiKeys = apiKeys == null ? List.of() : List.copyOf(apiKeys);
            webhookSecrets = webhookSecrets == null ? List.of() : List.copyOf(webhookSecrets);
        }

        public static final int DEFAULT_MAX_QUEUED_JOBS = 100_000;
        public static final double DEFAULT_REQUESTS_PER_SECOND = 1000;

        /** @return {@code max-queued-jobs}, or its default */
        public int maxQueuedJobsOrDefault() {
            return maxQueuedJobs == null ? DEFAULT_MAX_QUEUED_JOBS : maxQueuedJobs;
        }

        /** @return {@code requests-per-second}, or its default */
        public double requestsPerSecondOrDefault() {
            return requestsPerSecond == null ? DEFAULT_REQUESTS_PER_SECOND : requestsPerSecond;
        }
    }

    /**
     * A chip pool. {@code kvEventsEndpoints} (one ZeroMQ endpoint per instance, openai-http pools) turn on precise
     * prefix routing from the engines' KV-cache events; {@code kvEventsReplayEndpoints} (same order) let gaps be
     * replayed; the pool falls back to the approximate index when an instance is silent for
     * {@code kvEventsStaleAfterMs} (default 60000). {@code enginePriority} (openai-http pools, default off) sends each
     * request's engine priority as vLLM's {@code priority} field, for engines run with {@code --scheduling-policy priority}.
     */
    public record PoolSetting(String id, String chip, int chipsPerInstance, int instances, String model, String backend,
            int maxBatchTokens, int maxConcurrentSequences, double timeScale, List<String> baseUrls, String engineModel,
            Long requestTimeoutMs, List<String> kvEventsEndpoints, List<String> kvEventsReplayEndpoints,
            String kvEventsTopic, Long kvEventsStaleAfterMs, Boolean enginePriority) {
        public PoolSetting {
            require(enginePriority == null || !enginePriority || "openai-http".equals(backend),
                    "pools[" + id + "].engine-priority applies to openai-http pools (the simulated engine always schedules by priority)");
            kvEventsEndpoints = kvEventsEndpoints == null ? List.of() : List.copyOf(kvEventsEndpoints);
            kvEventsReplayEndpoints = kvEventsReplayEndpoints == null ? List.of() : List.copyOf(kvEventsReplayEndpoints);
            require(kvEventsEndpoints.isEmpty() || "openai-http".equals(backend) && kvEventsEndpoints.size() == instances,
                    "pools[" + id + "].kv-events-endpoints must list one endpoint per instance of an openai-http pool");
            require(kvEventsReplayEndpoints.isEmpty() || kvEventsReplayEndpoints.size() == kvEventsEndpoints.size(),
                    "pools[" + id + "].kv-events-replay-endpoints must list one endpoint per kv-events-endpoints entry");
            require(kvEventsStaleAfterMs == null || kvEventsStaleAfterMs >= 1000,
                    "pools[" + id + "].kv-events-stale-after-ms must be at least 1000, was " + kvEventsStaleAfterMs);
            require(id != null && id.matches("[a-z0-9][a-z0-9-]{0,62}"),
                    "pools[].id '" + id + "' must be 1-63 characters of a-z, 0-9 and '-'");
            require("simulated".equals(backend) || "openai-http".equals(backend),
                    "pools[" + id + "].backend must be 'simulated' or 'openai-http', was '" + backend + "'");
            require(!"openai-http".equals(backend) || baseUrls != null && !baseUrls.isEmpty(),
                    "pools[" + id + "].base-urls must list one URL per instance for the openai-http backend");
            baseUrls = baseUrls == null ? List.of() : List.copyOf(baseUrls);
        }
    }
}
