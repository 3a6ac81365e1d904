package io.inferq.server;

import static io.inferq.server.StartStop.await;
import static io.inferq.server.StartStop.quietly;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.IngressServer;
import io.inferq.ingress.api.JobSubmissionParser;
import io.inferq.ingress.api.JobsApi;
import io.inferq.ingress.api.ServedModel;
import io.inferq.ingress.batch.BatchSettings;
import io.inferq.ingress.batch.BatchesApi;
import io.inferq.ingress.console.BatchSource;
import io.inferq.ingress.console.ConsoleApi;
import io.inferq.ingress.console.ConsoleSource;
import io.inferq.ingress.console.KafkaOverview;
import io.inferq.ingress.files.FilesApi;
import io.inferq.ingress.files.KafkaFileStore;
import io.inferq.ingress.tenants.SubmitRateLimiter;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.HazelcastJobView;
import io.inferq.ingress.view.JobEventsMaterializer;
import io.inferq.ingress.webhooks.WebhookApi;
import io.inferq.ingress.webhooks.WebhookConsoleView;
import io.inferq.ingress.webhooks.WebhookDispatcher;
import io.inferq.ingress.webhooks.WebhookSettings;
import io.inferq.ingress.webhooks.WebhookTargetPolicy;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import io.inferq.workers.pool.PoolPlan;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import java.net.BindException;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ingress role: the job view and its replay, webhook delivery, the jobs, webhooks, files, batches and console
 * APIs, and the HTTP server. {@link #start} returns once the HTTP server listens and the job view has caught up
 * (or 120 s have passed). Stopped in two steps: {@link #undeploy} first (no more HTTP work), {@link #closeStores}
 * after the workers.
 */
final class IngressWiring {
    private static final Logger LOG = LoggerFactory.getLogger(InferqServer.class);

    private final InferqConfig config;
    private final List<AutoCloseable> toClose;
    private Vertx vertx;
    private KafkaClientSettings kafka;
    private KafkaProducer<String, byte[]> producer;
    /** The batch side's producer (file chunks, batch lines and state): not the one interactive submissions use. */
    private KafkaProducer<String, byte[]> bulkProducer;
    private HazelcastInstance hazelcast;
    private PrometheusMeterRegistry registry;
    private Admin admin;
    private JobEventsMaterializer materializer;
    private WebhookDispatcher webhooks;
    private IngressServer ingress;
    private io.inferq.server.wiring.DispatcherConsoleSource consoleSource; // operator console (issue 19)
    private KafkaFileStore fileStore;
    private BatchesApi batchesApi;
    private String ingressDeployment;

    IngressWiring(InferqConfig config, List<AutoCloseable> toClose) {
        this.config = config;
        this.toClose = toClose;
    }

    void start(Infrastructure infra, List<PoolPlan> plans, TerminalClaims claims, Clock clock, TrustedOrigin origin,
            Supplier<Map<String, Boolean>> readiness) {
        vertx = infra.vertx();
        kafka = infra.kafka();
        producer = infra.producer();
        bulkProducer = infra.bulkProducer();
        hazelcast = infra.hazelcast();
        registry = infra.registry();
        admin = infra.admin();
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
            tenants.add(new Tenant(t.id(), t.apiKeys(), t.maxQueuedJobsOrDefault(),
                    t.maxRequestBytes() == null ? config.http().maxBodyBytes() : t.maxRequestBytes(),
                    t.requestsPerSecondOrDefault(), t.webhookSecrets(), t.cacheSalt()));
        }
        Tenant open = Tenant.openDefault(openWebhookSecret());
        TenantDirectory directory = new TenantDirectory(tenants, open);
        if (!directory.authenticationRequired()) {
            LOG.warn("no tenant is configured: open access, every request runs as tenant 'default' without an API key"
                    + " (configure 'tenants' to require API keys); webhooks are signed with the secret in {}",
                    config.dataDir().resolve("default-webhook-secret"));
        }
        List<ServedModel> served = PoolPlans.servedModels(plans);
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
                http.headerTimeoutMs(), http.bodyTimeoutMs(), http.maxConnections()), apis, served, readiness::get, registry::scrape,
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
        fileStore = new KafkaFileStore(kafka, bulkProducer, clock);
        fileStore.start();
        WebhookDispatcher wh = webhooks;
        batchesApi = new BatchesApi(vertx, kafka, bulkProducer, fileStore, new JobSubmissionParser(served), origin, claims, view::get,
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

    void readiness(Map<String, Boolean> r) {
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
    }

    /** The console's view of the dispatcher, or null when this process serves no console. */
    io.inferq.server.wiring.DispatcherConsoleSource consoleSource() {
        return consoleSource;
    }

    int httpPort() {
        return ingress == null ? -1 : ingress.actualPort();
    }

    /** The first step of a shutdown: stop taking HTTP work. */
    void undeploy() {
        if (ingressDeployment != null) {
            quietly(() -> await(vertx.undeploy(ingressDeployment), "ingress stop"));
            ingressDeployment = null;
        }
    }

    /** After the workers have stopped: the batch runner, the file store, the job view and webhook delivery. */
    void closeStores() {
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
    }
}
