package io.inferq.server;

import static io.inferq.server.StartStop.await;
import static io.inferq.server.StartStop.quietly;

import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.LengthBuckets;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.ServiceTimeModel;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.runtime.DispatcherVerticle;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.dispatcher.runtime.contract.KafkaRequestContract;
import io.inferq.dispatcher.runtime.contract.ReplyTopicCheck;
import io.inferq.dispatcher.runtime.contract.ServedModelLimits;
import io.inferq.ingress.webhooks.WebhookSettings;
import io.inferq.ingress.webhooks.WebhookTargetPolicy;
import io.inferq.job.TerminalClaims;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.RooflineServiceTime;
import io.inferq.workers.pool.BackendSpec;
import io.inferq.workers.pool.PoolPlan;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dispatcher role: the scheduler built from the dispatcher settings and the pools' roofline service times, the
 * Kafka request contract, and the verticle (on a worker thread) that feeds them. With shared credits several
 * dispatcher processes draw on one set of credits per pool instance.
 */
final class DispatcherWiring {
    private final InferqConfig config;
    private Vertx vertx;
    private DispatcherVerticle dispatcher;
    private String dispatcherDeployment;

    DispatcherWiring(InferqConfig config) {
        this.config = config;
    }

    void start(Infrastructure infra, List<PoolPlan> plans, TerminalClaims claims, PrefixLocator prefixLocator,
            PromptAnalyzer promptAnalyzer, Clock clock, io.inferq.server.wiring.DispatcherConsoleSource consoleSource) {
        vertx = infra.vertx();
        var registry = infra.registry();
        var hazelcast = infra.hazelcast();
        String processId = infra.processId();
        var kafka = infra.kafka();
        var producer = infra.producer();
        var admin = infra.admin();
        DispatchScheduler scheduler = new DispatchScheduler(dispatchConfig(), fairnessConfig(), poolProfiles(plans),
                RoutingPolicies.byName(config.dispatcher().policy(), 42), prefixLocator, registry);
        scheduler.setCalibration(config.dispatcher().serviceTimeCalibration());
        if (config.dispatcher().sharedCredits()) {
            // several dispatcher processes, one set of credits per pool instance (issue 17; README "Several dispatchers")
            scheduler.shareCredits(new io.inferq.server.wiring.HazelcastCreditGate(hazelcast,
                    processId + "-" + Long.toString(System.nanoTime(), 36), io.inferq.server.wiring.HazelcastCreditGate.DEFAULT_LEASE_MS));
        }
        dispatcher = new DispatcherVerticle(scheduler, kafka, producer, claims, promptAnalyzer, KafkaRequestContract.forTenants(
                PoolPlans.servedModels(plans).stream().map(m -> new ServedModelLimits(m.id(), m.contextTokens(), m.maxOutputTokens())).toList(),
                config.tenants().stream().collect(java.util.stream.Collectors.toMap(InferqConfig.TenantSetting::id, InferqConfig.TenantSetting::apiKeys)),
                ReplyTopicCheck.viaAdmin(admin, clock), clock).withReplyTopicPrefixes(replyTopicPrefixes())
                .withWebhookTargets(WebhookTargetPolicy.of(WebhookSettings.defaults().withTargets(false,
                        config.webhooks().allowPrivateTargets()))::check),
                clock, registry);
        dispatcher.batchLaneBatchesVia(infra.bulkProducer()); // interactive batches keep their own connection
        if (config.dispatcher().batchYieldDelayMs() > 0) { // README "Batch-lane yield"
            dispatcher.withBatchLaneYield(new io.inferq.dispatcher.BatchLaneYield(config.dispatcher().batchYieldDelayMs()));
        }
        dispatcherDeployment = await(vertx.deployVerticle(dispatcher, new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)),
                "dispatcher");
        if (plans.stream().anyMatch(p -> !(p.spec().backend() instanceof BackendSpec.Simulated))) {
            infra.enginePressure().follow(dispatcher::applyEnginePressure);
        }
        if (consoleSource != null) {
            consoleSource.attach(dispatcher);
        }
    }

    void readiness(Map<String, Boolean> r) {
        if (dispatcher != null) {
            r.put("dispatcher", dispatcher.isReady());
        }
    }

    /** Stops dispatching (after the ingress stopped taking HTTP work, before the workers). */
    void undeploy() {
        if (dispatcherDeployment != null) {
            quietly(() -> await(vertx.undeploy(dispatcherDeployment), "dispatcher stop"));
            dispatcherDeployment = null;
        }
    }

    /** Tenants limited to reply topics under a prefix (issue 13): tenant id → {@code reply-topic-prefix}. */
    private Map<String, String> replyTopicPrefixes() {
        Map<String, String> prefixes = new LinkedHashMap<>();
        config.tenants().stream().filter(t -> t.replyTopicPrefix() != null).forEach(t -> prefixes.put(t.id(), t.replyTopicPrefix()));
        return prefixes;
    }

    private List<PoolProfile> poolProfiles(List<PoolPlan> plans) {
        List<PoolProfile> out = new ArrayList<>();
        for (PoolPlan p : plans) {
            out.add(new PoolProfile(p.spec().id(), p.chip().id(), p.spec().model(), p.spec().instances(),
                    p.spec().limits().maxBatchTokens(), p.spec().limits().maxConcurrentSequences(),
                    ServiceTimeModel.timeScaled(new RooflineServiceTime(p.roofline()), p.spec().timeScale())));
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
                config.kvCache().blockTokens(), d.prefixOverlapWeight(), DispatchConfig.defaults().expireOnPredictedMiss(),
                DispatchConfig.defaults().referenceOutputTokens(), d.dispatchToIdleInstances())
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
        return new FairnessConfig(f.enabled(), f.prefillWeight(), f.decodeWeight(), f.affinityBudgetTokens(), weights,
                f.fairCredits());
    }
}
