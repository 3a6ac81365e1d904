package io.inferq.server;

import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.LengthBuckets;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.runtime.DispatcherVerticle;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.dispatcher.runtime.contract.KafkaRequestContract;
import io.inferq.dispatcher.runtime.contract.ReplyTopicCheck;
import io.inferq.dispatcher.runtime.contract.ServedModelLimits;
import io.inferq.ingress.IngressServer;
import io.inferq.ingress.console.BatchSource;
import io.inferq.ingress.console.ConsoleApi;
import io.inferq.ingress.console.ConsoleSource;
import io.inferq.ingress.console.KafkaOverview;
import io.inferq.ingress.webhooks.WebhookConsoleView;
import io.inferq.ingress.batch.BatchSettings;
import io.inferq.ingress.batch.BatchesApi;
import io.inferq.ingress.files.FilesApi;
import io.inferq.ingress.files.KafkaFileStore;
import io.inferq.ingress.api.JobSubmissionParser;
import io.inferq.ingress.api.JobsApi;
import io.inferq.ingress.api.ServedModel;
import io.inferq.ingress.tenants.SubmitRateLimiter;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.HazelcastJobView;
import io.inferq.ingress.view.JobEventsMaterializer;
import io.inferq.ingress.webhooks.WebhookApi;
import io.inferq.ingress.webhooks.WebhookDispatcher;
import io.inferq.ingress.webhooks.WebhookSettings;
import io.inferq.ingress.webhooks.WebhookTargetPolicy;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.HazelcastLauncher;
import io.inferq.server.wiring.HazelcastTerminalClaims;
import io.inferq.server.wiring.PrometheusMetrics;
import io.inferq.server.wiring.RooflineServiceTime;
import io.inferq.dispatcher.kv.IndexPrefixLocator;
import io.inferq.workers.kv.KvPrefixCacheHook;
import io.inferq.dispatcher.kv.KvPromptAnalyzer;
import io.inferq.workers.kv.PoolKvCache;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.HazelcastPrefixIndex;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.kvcache.store.SharedKvTier;
import io.inferq.kvcache.tokens.PromptTokenizer;
import com.hazelcast.map.IMap;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.pool.BackendSpec;
import io.inferq.workers.backend.OpenAiHttpSettings;
import io.inferq.workers.pool.PoolLimits;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.pool.PoolSpec;
import io.inferq.workers.runtime.PoolWorker;
import io.inferq.workers.runtime.PoolWorkerSettings;
import io.inferq.workers.runtime.PrefixCacheHook;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import java.net.BindException;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inferq process: starts what its configuration asks for — an embedded KRaft broker and
 * Hazelcast member (or clients of external clusters), then the ingress, dispatcher and worker roles —
 * and stops them in the reverse order.
 *
 * <p>{@link #start} blocks until every part is started (not necessarily ready: see {@link #readiness()}).
 * {@link #close} is the graceful shutdown: stop taking HTTP work, stop dispatching, let workers
 * finish (or hand back) their batches, flush producers, then stop Hazelcast and the broker.
 */
public final class InferqServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InferqServer.class);

    private final InferqConfig config;
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private EmbeddedKafkaBroker broker;
    private HazelcastInstance hazelcast;
    /** Hazelcast starting beside the broker (see {@link #startAll}); taken into {@link #hazelcast} once it has. */
    private java.util.concurrent.CompletableFuture<HazelcastInstance> hazelcastStarting;
    private io.inferq.server.wiring.EngineBackPressureRelay enginePressure;
    private String enginePressureProcessId;

    /** The relay of engines' back-pressure between worker and dispatcher processes (started on first use). */
    private io.inferq.server.wiring.EngineBackPressureRelay enginePressure() {
        if (enginePressure == null) {
            enginePressure = new io.inferq.server.wiring.EngineBackPressureRelay(hazelcast, enginePressureProcessId);
        }
        return enginePressure;
    }
    private Vertx vertx;
    private PrometheusMeterRegistry registry;
    private KafkaProducer<String, byte[]> producer;
    private KafkaClientSettings kafka;
    private final List<PoolWorker> workers = new ArrayList<>();
    private DispatcherVerticle dispatcher;
    private String dispatcherDeployment;
    private JobEventsMaterializer materializer;
    private WebhookDispatcher webhooks;
    private IngressServer ingress;
    private io.inferq.server.wiring.DispatcherConsoleSource consoleSource; // operator console (issue 19)
    private KafkaFileStore fileStore;
    private BatchesApi batchesApi;
    private String ingressDeployment;
    private volatile boolean brokerReachable;
    private Admin admin;
    private long healthTimer = -1;
    private PrefixHashing hashing;
    private io.inferq.kvcache.resp.RespServer remoteKv;
    private PrefixIndex prefixIndex;
    private PrefixCacheHook cacheHook = PrefixCacheHook.NONE;
    private PrefixLocator prefixLocator = PrefixLocator.NONE;
    private PromptAnalyzer promptAnalyzer = PromptAnalyzer.ESTIMATE_ONLY;
    static final String KV_INDEX_MAP = "inferq.kv.prefix-index";
    static final String KV_BLOCKS_MAP = "inferq.kv.blocks";
    static final int KV_INDEX_ENTRIES_PER_MEMBER = 2_000_000;
    static final int KV_CHUNK_BYTES = 256 * 1024;

    private InferqServer(InferqConfig config) {
        this.config = config;
    }

    /** Starts a process with this configuration; on failure everything started is stopped again. */
    public static InferqServer start(InferqConfig config) {
        InferqServer s = new InferqServer(config);
        try {
            s.startAll();
            return s;
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void startAll() {
        long t0 = System.nanoTime();
        // with the embedded broker the data directory belongs to this one process (the broker locks it): a process id
        // kept there is unique and survives restarts, so a restarted process fences its previous incarnation's
        // transactions and takes its group partitions back at once (static membership) instead of waiting for a
        // dead session to expire
        String processId = config.processId() != null ? config.processId()
                : config.kafka().embedded() ? persistedProcessId() : defaultProcessId();
        List<PoolPlan> plans = resolvePools();
        enginePressureProcessId = processId;
        registry = PrometheusMetrics.create();

        // Hazelcast starts on its own thread beside the broker: the two are independent, and each spends part of its
        // start waiting (the broker for its controller and registration), which matters most on a restart after a crash
        List<MapConfig> maps = new ArrayList<>();
        maps.add(HazelcastTerminalClaims.mapConfig(config.retention().terminalClaims()));
        maps.add(HazelcastJobView.jobsMapConfig());
        maps.add(HazelcastJobView.idempotencyMapConfig());
        String hazelcastHost = loopbackOr(config.http().host());
        hazelcastStarting = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> HazelcastLauncher.start(config.hazelcast(), hazelcastHost, maps),
                r -> {
                    Thread t = new Thread(r, "inferq-hazelcast-start");
                    t.setDaemon(true);
                    t.start();
                });

        // Kafka
        String bootstrap;
        if (config.kafka().embedded()) {
            broker = new EmbeddedKafkaBroker(config.dataDir().resolve("kafka"), config.http().host().equals("0.0.0.0")
                    ? "127.0.0.1" : loopbackOr(config.http().host()), config.kafka().port(), config.kafka().controllerPort());
            broker.start(60_000);
            bootstrap = broker.bootstrapServers();
        } else {
            bootstrap = config.kafka().bootstrapServers();
        }
        kafka = new KafkaClientSettings(bootstrap, config.kafka().client(), config.kafka().embedded() ? processId : null);
        Properties ap = new Properties();
        ap.putAll(config.kafka().client());
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        admin = Admin.create(ap);
        Map<String, Integer> instancesByPool = new java.util.LinkedHashMap<>();
        plans.forEach(p -> instancesByPool.put(p.spec().id(), p.spec().instances()));
        var outcome = new TopicBootstrap(admin, (short) config.kafka().replicationFactor(), 30_000)
                .ensure(TopicCatalogue.topics(config.kafka().partitions(), instancesByPool));
        outcome.warnings().forEach(w -> LOG.warn("topic bootstrap: {}", w));
        LOG.info("Kafka at {}: {} topics created, {} already present", bootstrap, outcome.created().size(), outcome.existing().size());
        brokerReachable = true;

        // Hazelcast
        hazelcast = awaitHazelcast();
        TerminalClaims claims = new HazelcastTerminalClaims(hazelcast);

        vertx = Vertx.vertx();
        Properties pp = kafka.producer("inferq-" + processId);
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
        Clock clock = Clock.systemUTC();
        TrustedOrigin origin = TrustedOrigin.forTenants(apiKeysByTenant());
        startKvCache(plans, processId);
        remoteKv = io.inferq.server.kv.RemoteKvTierLauncher.start(config, vertx, hazelcast);   // kv-cache.resp-*
        if (remoteKv != null) {
            toClose.add(remoteKv);
        }

        // the ingress first: its job-view replay also rebuilds the terminal-state claims (lost with an
        // embedded Hazelcast member) before any worker or dispatcher could act on a stale job
        if (config.runs(InferqConfig.Role.INGRESS)) {
            startIngress(plans, claims, clock, origin);
        }
        if (config.runs(InferqConfig.Role.WORKERS)) {
            for (PoolPlan plan : plans) {
                PoolWorkerSettings settings = new PoolWorkerSettings(plan.spec().id(), plan.chip().id(), processId,
                        plan.spec().instances(), config.workers().maxAttempts(), config.workers().leaseMs(),
                        config.workers().sessionTimeoutMs());
                var backend = plan.createBackend(vertx, clock);
                if (backend instanceof io.inferq.workers.backend.OpenAiHttpBackend engines) {
                    enginePressure().publish(plan.spec().id(), engines); // engines' 429/503 reach every dispatcher
                }
                PoolWorker w = new PoolWorker(settings, kafka, backend, claims,
                        cacheHook, origin, clock, registry);
                w.start();
                workers.add(w);
            }
        }
        if (config.runs(InferqConfig.Role.DISPATCHER)) {
            DispatchScheduler scheduler = new DispatchScheduler(dispatchConfig(), fairnessConfig(), poolProfiles(plans),
                    RoutingPolicies.byName(policyName(config.dispatcher().policy()), 42), prefixLocator, registry);
            if ("true".equalsIgnoreCase(System.getenv("INFERQ_DISPATCHER_SHARED_CREDITS"))) {
                // several dispatcher processes, one set of credits per pool instance (issue 17; README "Several dispatchers")
                scheduler.shareCredits(new io.inferq.server.wiring.HazelcastCreditGate(hazelcast,
                        processId + "-" + Long.toString(System.nanoTime(), 36), io.inferq.server.wiring.HazelcastCreditGate.DEFAULT_LEASE_MS));
            }
            dispatcher = new DispatcherVerticle(scheduler, kafka, producer, claims, promptAnalyzer, KafkaRequestContract.forTenants(
                    servedModels(plans).stream().map(m -> new ServedModelLimits(m.id(), m.contextTokens(), m.maxOutputTokens())).toList(),
                    config.tenants().stream().collect(java.util.stream.Collectors.toMap(InferqConfig.TenantSetting::id, InferqConfig.TenantSetting::apiKeys)),
                    ReplyTopicCheck.viaAdmin(admin, clock), clock).withReplyTopicPrefixes(replyTopicPrefixes())
                    .withWebhookTargets(WebhookTargetPolicy.of(WebhookSettings.defaults().withTargets(false,
                            config.webhooks().allowPrivateTargets()))::check),
                    clock, registry);
            dispatcherDeployment = await(vertx.deployVerticle(dispatcher, new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)),
                    "dispatcher");
            if (plans.stream().anyMatch(p -> !(p.spec().backend() instanceof BackendSpec.Simulated))) {
                enginePressure().follow(dispatcher::applyEnginePressure);
            }
            if (consoleSource != null) {
                consoleSource.attach(dispatcher);
            }
        }
        healthTimer = vertx.setPeriodic(2000, id -> vertx.executeBlocking(() -> {
            try {
                admin.describeCluster().nodes().get(2, TimeUnit.SECONDS);
                brokerReachable = true;
            } catch (Exception e) {
                brokerReachable = false;
            }
            return null;
        }, false));
        LOG.info("inferq started in {} ms (roles {}, process {})", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                config.roles(), processId);
    }

    /** Tenants limited to reply topics under a prefix (issue 13): tenant id → {@code reply-topic-prefix}. */
    private Map<String, String> replyTopicPrefixes() {
        Map<String, String> prefixes = new LinkedHashMap<>();
        config.tenants().stream().filter(t -> t.replyTopicPrefix() != null).forEach(t -> prefixes.put(t.id(), t.replyTopicPrefix()));
        return prefixes;
    }

    private Map<String, List<String>> apiKeysByTenant() {
        Map<String, List<String>> keys = new LinkedHashMap<>();
        config.tenants().forEach(t -> keys.put(t.id(), t.apiKeys()));
        return keys;
    }

    private void startIngress(List<PoolPlan> plans, TerminalClaims claims, Clock clock, TrustedOrigin origin) {
        // learn the topics' metadata now, so the first submits do not wait for it (the HTTP handlers send from a
        // sender pool, never from the event loop)
        for (String topic : List.of(TopicCatalogue.REQUESTS, TopicCatalogue.REQUESTS_BATCH, TopicCatalogue.JOB_EVENTS,
                TopicCatalogue.RESULTS, TopicCatalogue.FILES, TopicCatalogue.BATCHES)) {
            try {
                producer.partitionsFor(topic);
            } catch (RuntimeException e) {
                LOG.warn("metadata of {} not read at start: {}", topic, e.toString());
            }
        }
        HazelcastJobView view = new HazelcastJobView(hazelcast, config.retention().finishedJobs());
        materializer = new JobEventsMaterializer(kafka, view);
        List<Tenant> tenants = new ArrayList<>();
        for (InferqConfig.TenantSetting t : config.tenants()) {
            tenants.add(new Tenant(t.id(), t.apiKeys(), t.maxQueuedJobs() == null ? 100_000 : t.maxQueuedJobs(),
                    t.maxRequestBytes() == null ? config.http().maxBodyBytes() : t.maxRequestBytes(),
                    t.requestsPerSecond() == null ? 1000 : t.requestsPerSecond(), t.webhookSecrets(), t.cacheSalt()));
        }
        Tenant open = Tenant.openDefault(openWebhookSecret());
        TenantDirectory directory = new TenantDirectory(tenants, open);
        if (!directory.authenticationRequired()) {
            LOG.warn("no tenant is configured: open access, every request runs as tenant 'default' without an API key"
                    + " (configure 'tenants' to require API keys); webhooks are signed with the secret in {}",
                    config.dataDir().resolve("default-webhook-secret"));
        }
        List<ServedModel> served = servedModels(plans);
        InferqConfig.Webhooks wh = config.webhooks();
        WebhookSettings webhookSettings = WebhookSettings.defaults()
                .withTimeout(java.time.Duration.ofMillis(wh.timeoutMs()))
                .withTargets(false, wh.allowPrivateTargets());
        webhookSettings = new WebhookSettings(webhookSettings.timeout(), wh.inlineOutputLimit(), webhookSettings.allowPrivateTargets(),
                webhookSettings.allowlist(), webhookSettings.maxConcurrent(), webhookSettings.maxPending(),
                webhookSettings.creationHorizon(), webhookSettings.failedRetention(), webhookSettings.jitter(), webhookSettings.tick(),
                webhookSettings.deliveriesTopic(), webhookSettings.dlqTopic(), webhookSettings.groupId());
        // deliveries are created from inferq.job-events by a consumer that commits only what is written (every
        // terminal event yields its webhook after any crash); HTTP does not wait for the webhook groups to form —
        // after a kill -9 that waits for the dead member's session to expire — /ready shows "webhooks" meanwhile
        webhooks = new WebhookDispatcher(vertx, kafka, webhookSettings, directory::byId, clock, registry)
                .createFrom(TopicCatalogue.JOB_EVENTS);
        webhooks.start().onSuccess(v -> LOG.info("webhook delivery ready"));
        materializer.onChange(e -> {
            JobStatus status = JobStatus.fromWire(e.getStatus());
            if (status.isTerminal()) {
                // re-claim what Kafka says is final (no-op when the claim exists): keeps "one terminal
                // state" across a restart that lost the Hazelcast map
                claims.claim(e.getJobId(), status, e.getDispatchId() != null ? e.getDispatchId() : "replay");
            }
        });
        WebhookTargetPolicy targets = WebhookTargetPolicy.of(webhookSettings);
        JobsApi jobs = new JobsApi(vertx, directory, new SubmitRateLimiter(clock), new JobSubmissionParser(served),
                view, claims, producer, clock, registry, targets::check, origin, materializer::isCaughtUp);
        io.inferq.ingress.streaming.TokenStreams tokenStreams = new io.inferq.ingress.streaming.TokenStreams(kafka);
        tokenStreams.start();
        toClose.add(tokenStreams);
        jobs.clientOptions(tokenStreams, config.http().syncWaitMs());
        materializer.onApplying(jobs::onJobApplying);
        materializer.onApplied(jobs::onJobApplied);
        WebhookApi webhookApi = new WebhookApi(webhooks, jobs::authenticate);
        List<Consumer<Router>> apis = new ArrayList<>(List.of(jobs::mount, webhookApi::mount));
        startBatchApis(apis, jobs, view, claims, clock, origin, served, targets); // before the console, which shows its batches
        ConsoleApi console = console(plans, directory, view, jobs, clock);
        apis.add(console::mount);
        materializer.start(); // after every listener is registered, so none misses the replay
        InferqConfig.Http http = config.http();
        ingress = new IngressServer(http.host(), http.port(), http.maxBodyBytes(), new io.inferq.ingress.HttpLimits(http.idleTimeoutMs(),
                http.headerTimeoutMs(), http.bodyTimeoutMs(), http.maxConnections()), apis, served, this::readiness, registry::scrape,
                new io.inferq.ingress.OperatorAccess(http.operatorKey(), directory.authenticationRequired()), registry);
        if (directory.authenticationRequired() && http.operatorKey() == null) {
            LOG.warn("tenants are configured and http.operator-key is not: /metrics answers 401 until it is set");
        }
        try {
            ingressDeployment = await(vertx.deployVerticle(ingress), "ingress");
        } catch (ConfigException e) {
            if (e.getCause() instanceof BindException || String.valueOf(e.getMessage()).contains("Address already in use")) {
                throw new ConfigException("http.port: port " + config.http().port() + " on " + config.http().host()
                        + " is already in use; stop the other process or choose another port", e);
            }
            throw e;
        }
        LOG.info("HTTP API on http://{}:{}", config.http().host(), ingress.actualPort());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!materializer.isCaughtUp() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ConfigException("interrupted while replaying " + TopicCatalogue.JOB_EVENTS, e);
            }
        }
        if (!materializer.isCaughtUp()) {
            LOG.warn("the job view has not caught up with {} after 120 s; job calls answer 503 view_loading until it has",
                    TopicCatalogue.JOB_EVENTS);
        }
    }

    /** The operator console (issue 19): its view of the pools and the dispatcher, Kafka through the Admin client. */
    private ConsoleApi console(List<PoolPlan> plans, TenantDirectory directory, HazelcastJobView view, JobsApi jobs, Clock clock) {
        List<ConsoleSource.PoolDescriptor> pools = new ArrayList<>();
        for (PoolPlan p : plans) {
            pools.add(new ConsoleSource.PoolDescriptor(p.spec().id(), p.chip().id(), p.chip().name(), p.spec().model(),
                    p.spec().instances(), p.spec().chipsPerInstance(), p.spec().backend().kind(), p.spec().limits().maxBatchTokens(),
                    p.spec().limits().maxConcurrentSequences(), config.dispatcher().maxInFlightBatchesPerInstance()));
        }
        consoleSource = new io.inferq.server.wiring.DispatcherConsoleSource(pools, clock);
        List<String> tenantIds = config.tenants().isEmpty() ? List.of("default")
                : config.tenants().stream().map(InferqConfig.TenantSetting::id).toList();
        ConsoleApi console = new ConsoleApi(vertx, directory, config.http().operatorKey(), tenantIds, view, consoleSource, registry,
                new WebhookConsoleView(webhooks), new KafkaOverview(vertx, admin, materializer::isCaughtUp, clock, 5000),
                batchesApi != null ? new io.inferq.server.wiring.BatchesConsoleSource(batchesApi) : BatchSource.NONE, jobs::cancelAs, clock);
        JobEventsMaterializer m = materializer;
        m.onApplied(e -> {
            if (m.isCaughtUp()) {
                console.onJobApplied(e);
            }
        });
        return console;
    }

    /** The Files and Batch APIs: the Kafka file store, the batch store and runner, fed by the job view's events. */
    private void startBatchApis(List<Consumer<Router>> apis, JobsApi jobs, HazelcastJobView view, TerminalClaims claims, Clock clock,
            TrustedOrigin origin, List<ServedModel> served, WebhookTargetPolicy targets) {
        InferqConfig.Batches b = config.batches();
        BatchSettings settings = new BatchSettings(java.time.Duration.ofSeconds(b.completionWindowSeconds()), b.maxLines(),
                b.maxFileBytes(), b.maxErrors(), b.tenantMaxStoredBytes(), b.tenantMaxBatchesInProgress(), b.tenantMaxLinesInProgress(),
                java.time.Duration.ofDays(b.fileExpiryDays()));
        fileStore = new KafkaFileStore(kafka, producer, clock);
        fileStore.start();
        WebhookDispatcher wh = webhooks;
        batchesApi = new BatchesApi(vertx, kafka, producer, fileStore, new JobSubmissionParser(served), origin, claims, view::get,
                jobs::authenticate, clock, settings, targets::check,
                (tenant, url, type, batch) -> wh.onEvent(tenant, batch.getString("id"), type, url, batch, clock.millis()),
                materializer::isCaughtUp);
        materializer.onApplied(batchesApi::onJobEvent);
        batchesApi.start();
        FilesApi filesApi = new FilesApi(vertx, fileStore, jobs::authenticate, clock, settings.maxFileBytes(),
                settings.tenantMaxStoredBytes(), settings.fileExpiry().toSeconds());
        apis.add(filesApi::mount);
        apis.add(batchesApi::mount);
    }

    /**
     * The open tenant's webhook signing secret: made once and kept in {@code <data-dir>/default-webhook-secret}
     * so receivers can keep verifying across restarts; announced at start.
     */
    private String openWebhookSecret() {
        java.nio.file.Path file = config.dataDir().resolve("default-webhook-secret");
        try {
            if (java.nio.file.Files.exists(file)) {
                return java.nio.file.Files.readString(file).trim();
            }
            byte[] key = new byte[24];
            new SecureRandom().nextBytes(key);
            String secret = "whsec_" + Base64.getEncoder().encodeToString(key);
            java.nio.file.Files.createDirectories(config.dataDir());
            java.nio.file.Files.writeString(file, secret);
            return secret;
        } catch (java.io.IOException e) {
            throw new ConfigException("data-dir: cannot read or write " + file + ": " + e.getMessage(), e);
        }
    }

    private List<PoolPlan> resolvePools() {
        ChipCatalogue chips = ChipCatalogue.builtIn();
        ModelCatalogue models = ModelCatalogue.builtIn();
        List<PoolPlan> plans = new ArrayList<>();
        for (InferqConfig.PoolSetting p : config.pools()) {
            BackendSpec backend = "simulated".equals(p.backend()) ? new BackendSpec.Simulated()
                    : httpBackend(p);
            PoolSpec spec = new PoolSpec(p.id(), p.chip(), p.chipsPerInstance(), p.instances(), p.model(), backend,
                    new PoolLimits(p.maxBatchTokens(), p.maxConcurrentSequences()), p.timeScale(), 0.9, null, 0);
            try {
                plans.add(PoolPlan.resolve(spec, chips, models, new RooflineAssumptions(RooflineAssumptions.DEFAULT_MFU,
                        RooflineAssumptions.DEFAULT_MBU, RooflineAssumptions.DEFAULT_MEMORY_UTILISATION,
                        config.kvCache().networkGbps() * 1e9 / 8)));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("pools[" + p.id() + "]: " + e.getMessage(), e);
            }
        }
        return plans;
    }

    private static BackendSpec httpBackend(InferqConfig.PoolSetting p) {
        List<java.net.URI> urls = new ArrayList<>();
        for (String u : p.baseUrls()) {
            try {
                urls.add(new java.net.URI(u));
            } catch (java.net.URISyntaxException e) {
                throw new ConfigException("pools[" + p.id() + "].base-urls: '" + u + "' is not a URL: " + e.getReason(), e);
            }
        }
        OpenAiHttpSettings s = OpenAiHttpSettings.of(urls, p.engineModel() == null ? p.model() : p.engineModel());
        if (p.requestTimeoutMs() != null) {
            s = s.withTimeouts(s.connectTimeout(), java.time.Duration.ofMillis(p.requestTimeoutMs()), s.idleTimeout());
        }
        return new BackendSpec.OpenAiHttp(s);
    }

    private List<PoolProfile> poolProfiles(List<PoolPlan> plans) {
        List<PoolProfile> out = new ArrayList<>();
        for (PoolPlan p : plans) {
            out.add(new PoolProfile(p.spec().id(), p.chip().id(), p.spec().model(), p.spec().instances(),
                    p.spec().limits().maxBatchTokens(), p.spec().limits().maxConcurrentSequences(),
                    new ScaledServiceTime(new RooflineServiceTime(p.roofline()), p.spec().timeScale())));
        }
        return out;
    }

    private DispatchConfig dispatchConfig() {
        InferqConfig.Dispatcher d = config.dispatcher();
        Map<String, Long> quotas = new LinkedHashMap<>();
        config.tenants().forEach(t -> {
            if (t.queuedTokens() != null) {
                quotas.put(t.id(), t.queuedTokens());
            }
        });
        int[] edges = d.bucketEdges().stream().mapToInt(Integer::intValue).toArray();
        return new DispatchConfig(LengthBuckets.of(edges), d.interactiveMaxWaitMs(), d.batchMaxWaitMs(),
                d.batchPromotionAfterMs(), d.maxQueuedJobs(), d.tenantQueuedTokens(), quotas, d.maxInFlightBatchesPerInstance(),
                config.kvCache().blockTokens(), d.prefixOverlapWeight(), true, 256, d.dispatchToIdleInstances())
                .withHeadroom(d.headroomCredits(), d.headroomWindowMs()).withHeadroomIdleInstances(d.headroomIdleInstances());
    }

    private FairnessConfig fairnessConfig() {
        InferqConfig.Fairness f = config.dispatcher().fairness();
        Map<String, Double> weights = new LinkedHashMap<>();
        config.tenants().forEach(t -> {
            if (t.weight() != null) {
                weights.put(t.id(), t.weight());
            }
        });
        return new FairnessConfig(f.enabled(), f.prefillWeight(), f.decodeWeight(), f.affinityBudgetTokens(), weights);
    }

    private static String policyName(String configured) {
        return "estimated-completion".equals(configured) ? "ect" : configured;
    }

    private List<ServedModel> servedModels(List<PoolPlan> plans) {
        Map<String, List<String>> pools = new LinkedHashMap<>();
        Map<String, ModelProfile> profiles = new LinkedHashMap<>();
        Map<String, Integer> promptBudget = new LinkedHashMap<>();
        for (PoolPlan p : plans) {
            promptBudget.merge(p.spec().model(), p.spec().limits().maxBatchTokens(), Math::max);
            pools.computeIfAbsent(p.spec().model(), k -> new ArrayList<>())
                    .add(p.spec().id() + " (" + p.spec().instances() + " × " + p.spec().chipsPerInstance() + " " + p.chip().name()
                            + ", " + p.spec().backend().kind() + ")");
            profiles.put(p.spec().model(), p.model());
        }
        List<ServedModel> out = new ArrayList<>();
        pools.forEach((model, list) -> {
            ModelProfile mp = profiles.get(model);
            int ctx = mp.maxContextTokens();
            out.add(new ServedModel(model, "deepseek-ai", ctx, Math.min(32_768, ctx / 2), promptBudget.get(model), list));
        });
        return out;
    }

    /**
     * Sets up the KV cache (when {@code kv-cache.enabled}): one tokenizer/hashing for every role, the prefix
     * index and the shared block tier on Hazelcast, and one two-tier block store per pool this process runs.
     */
    private void startKvCache(List<PoolPlan> plans, String processId) {
        InferqConfig.KvCache kv = config.kvCache();
        if (!kv.enabled()) {
            return;
        }
        Map<String, String> salts = new LinkedHashMap<>();
        config.tenants().forEach(t -> {
            if (t.cacheSalt() != null) {
                salts.put(t.id(), t.cacheSalt());
            }
        });
        hashing = new PrefixHashing(PromptTokenizer.o200kBase(), kv.blockTokens(), tenant -> salts.get(tenant));
        prefixIndex = HazelcastPrefixIndex.create(hazelcast, KV_INDEX_MAP, KV_INDEX_ENTRIES_PER_MEMBER);
        if (config.runs(InferqConfig.Role.WORKERS)) {
            int chunks = (int) Math.max(64, Math.min(Integer.MAX_VALUE, kv.sharedTierBytes() / KV_CHUNK_BYTES));
            IMap<String, byte[]> shared = config.hazelcast().embedded()
                    ? SharedKvTier.install(hazelcast, KV_BLOCKS_MAP, chunks, registry)
                    : hazelcast.getMap(KV_BLOCKS_MAP); // external cluster: install the tier member-side (README)
            Map<String, PoolKvCache> pools = new LinkedHashMap<>();
            long localPerPool = kv.localTierBytes() / Math.max(1, plans.size());
            for (PoolPlan plan : plans) {
                KvBlockStore store = KvBlockStore.builder()
                        .holder(new BlockHolder(processId + "/" + plan.spec().id(), plan.spec().id()))
                        .localMaxBytes(localPerPool).chunkBytes(KV_CHUNK_BYTES)
                        .sharedMap(shared).prefixIndex(prefixIndex).meterRegistry(registry).build();
                pools.put(plan.spec().id(), PoolKvCache.forPool(plan, store, hashing,
                        plan.spec().backend() instanceof BackendSpec.Simulated ? kv.simulatedPayloadScaleDown() : 1));
            }
            java.util.concurrent.ThreadPoolExecutor writer = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
                    new java.util.concurrent.ArrayBlockingQueue<>(1024), r -> {
                        Thread t = new Thread(r, "kv-block-writer");
                        t.setDaemon(true);
                        return t;
                    }, new java.util.concurrent.ThreadPoolExecutor.AbortPolicy());
            toClose.add(writer::shutdownNow);
            cacheHook = new KvPrefixCacheHook(hashing, pools, registry, writer);
        }
        if (config.runs(InferqConfig.Role.DISPATCHER)) {
            java.util.concurrent.ThreadPoolExecutor lookups = new java.util.concurrent.ThreadPoolExecutor(1, 2, 30, TimeUnit.SECONDS,
                    new java.util.concurrent.ArrayBlockingQueue<>(4096), r -> {
                        Thread t = new Thread(r, "kv-prefix-lookup");
                        t.setDaemon(true);
                        return t;
                    }, new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy()); // a dropped lookup = no routing hint
            toClose.add(lookups::shutdownNow);
            IndexPrefixLocator locator = new IndexPrefixLocator(prefixIndex, lookups, registry);
            prefixLocator = locator;
            promptAnalyzer = new KvPromptAnalyzer(hashing, locator::prefetch);
            io.inferq.dispatcher.kv.EnginePrefixLocator precise = io.inferq.server.kv.EngineEventsLauncher.start(config, hashing,
                    locator, registry, toClose);
            if (precise != null) {   // pools with kv-events-endpoints: precise prefix routing from vLLM KV events
                prefixLocator = precise;
                promptAnalyzer = KvPromptAnalyzer.withTokens(hashing, (hashes, tokens) -> {
                    locator.prefetch(hashes);
                    precise.remember(hashes, tokens);
                });
            }
        }
    }

    /** @return component → ready; the process is ready when all are */
    public Map<String, Boolean> readiness() {
        Map<String, Boolean> r = new LinkedHashMap<>();
        r.put("kafka", brokerReachable);
        r.put("hazelcast", hazelcast != null && hazelcast.getLifecycleService().isRunning());
        if (materializer != null) {
            r.put("job-view", materializer.isCaughtUp());
        }
        if (webhooks != null) {
            r.put("webhooks", webhooks.isReady());
        }
        if (fileStore != null) {
            r.put("files", fileStore.isReady());
        }
        if (batchesApi != null) {
            r.put("batches", batchesApi.isReady());
        }
        if (dispatcher != null) {
            r.put("dispatcher", dispatcher.isReady());
        }
        for (PoolWorker w : workers) {
            r.put("pool:" + w.poolId(), w.isReady());
        }
        return r;
    }

    public boolean isReady() {
        return readiness().values().stream().allMatch(Boolean::booleanValue);
    }

    /**
     * Blocks until {@link #isReady()} or the timeout; on timeout closes this process.
     *
     * @return this, ready
     * @throws IllegalStateException naming the components that are not ready
     */
    public InferqServer awaitReady(java.time.Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!isReady()) {
            if (System.nanoTime() > deadline) {
                Map<String, Boolean> r = readiness();
                close();
                throw new IllegalStateException("inferq not ready after " + timeout.toSeconds() + " s: " + r);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for readiness", e);
            }
        }
        return this;
    }

    /** Port of the remote KV tier (Redis protocol), or -1 when {@code kv-cache.resp-port} is -1. */
    public int remoteKvPort() {
        return remoteKv == null ? -1 : remoteKv.port();
    }

    public int httpPort() {
        return ingress == null ? -1 : ingress.actualPort();
    }

    public String kafkaBootstrapServers() {
        return kafka.bootstrapServers();
    }

    public HazelcastInstance hazelcast() {
        return hazelcast;
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /** A process id made once and kept in {@code <data-dir>/process-id}. */
    private String persistedProcessId() {
        java.nio.file.Path file = config.dataDir().resolve("process-id");
        try {
            if (java.nio.file.Files.exists(file)) {
                String id = java.nio.file.Files.readString(file).trim();
                if (!id.isEmpty()) {
                    return id;
                }
            }
            byte[] tag = new byte[4];
            new SecureRandom().nextBytes(tag);
            String id = defaultProcessId().replaceAll("-\\d+$", "") + "-" + java.util.HexFormat.of().formatHex(tag);
            java.nio.file.Files.createDirectories(config.dataDir());
            java.nio.file.Files.writeString(file, id);
            return id;
        } catch (java.io.IOException e) {
            throw new ConfigException("data-dir: cannot read or write " + file + ": " + e.getMessage(), e);
        }
    }

    private static String defaultProcessId() {
        try {
            return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9-]", "-") + "-" + ProcessHandle.current().pid();
        } catch (java.net.UnknownHostException e) {
            return "inferq-" + ProcessHandle.current().pid();
        }
    }

    private static String loopbackOr(String host) {
        return "localhost".equals(host) ? "127.0.0.1" : host;
    }

    private static <T> T await(io.vertx.core.Future<T> f, String what) {
        try {
            return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConfigException("interrupted while starting " + what, e);
        } catch (Exception e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            throw new ConfigException(what + " failed to start: " + c.getMessage(), c);
        }
    }

    /** Graceful shutdown; safe to call more than once and after a failed start. */
    @Override
    public synchronized void close() {
        long t0 = System.nanoTime();
        if (vertx != null && healthTimer >= 0) {
            vertx.cancelTimer(healthTimer);
        }
        if (ingressDeployment != null) {
            quietly(() -> await(vertx.undeploy(ingressDeployment), "ingress stop"));
            ingressDeployment = null;
        }
        if (dispatcherDeployment != null) {
            quietly(() -> await(vertx.undeploy(dispatcherDeployment), "dispatcher stop"));
            dispatcherDeployment = null;
        }
        workers.forEach(w -> quietly(w::close));
        workers.clear();
        if (batchesApi != null) {
            quietly(batchesApi::close);
            batchesApi = null;
        }
        if (fileStore != null) {
            quietly(fileStore::close);
            fileStore = null;
        }
        if (materializer != null) {
            quietly(materializer::close);
            materializer = null;
        }
        if (webhooks != null) {
            quietly(webhooks::close);
            webhooks = null;
        }
        toClose.forEach(c -> quietly(c::close));
        toClose.clear();
        if (producer != null) {
            KafkaProducer<String, byte[]> p = producer;
            quietly(() -> p.close(java.time.Duration.ofSeconds(10)));
            producer = null;
        }
        if (admin != null) {
            Admin a = admin;
            quietly(() -> a.close(java.time.Duration.ofSeconds(5)));
            admin = null;
        }
        if (vertx != null) {
            Vertx v = vertx;
            quietly(() -> await(v.close(), "vert.x stop"));
            vertx = null;
        }
        if (hazelcast == null && hazelcastStarting != null) {
            quietly(() -> hazelcast = awaitHazelcast()); // a start that failed before taking it: stop it all the same
        }
        hazelcastStarting = null;
        if (enginePressure != null) {
            enginePressure.close();
            enginePressure = null;
        }
        if (hazelcast != null) {
            HazelcastInstance h = hazelcast;
            quietly(() -> h.shutdown());
            hazelcast = null;
        }
        if (broker != null) {
            quietly(broker::close);
            broker = null;
        }
        LOG.info("inferq stopped in {} ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    /** Waits for the Hazelcast start begun in {@link #startAll}; rethrows its failure as it was thrown. */
    private HazelcastInstance awaitHazelcast() {
        try {
            return hazelcastStarting.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void quietly(Step step) {
        try {
            step.run();
        } catch (Exception e) {
            LOG.warn("shutdown step failed: {}", e.toString());
        }
    }
}
