package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;

/** Micrometer meters of the scheduler. With no registry the meters are no-ops. */
final class DispatchMetrics {

    private final MeterRegistry registry;
    private final Map<JobLane, Timer> waitByLane = new EnumMap<>(JobLane.class);
    private final Map<JobLane, Counter> expiredByLane = new EnumMap<>(JobLane.class);
    private final Map<String, DistributionSummary> batchSize = new HashMap<>();
    private final Map<String, DistributionSummary> paddingWaste = new HashMap<>();
    private final Map<String, Counter> rejections = new HashMap<>();
    private final Map<String, Counter> affinityBatches = new HashMap<>();
    private final Counter cancelled;
    private final Counter heldByHeadroom;
    /** (model, lane, tenant) whose fair-sharing meters are registered. */
    private final Set<String> tenantMeters = new HashSet<>();

    DispatchMetrics(MeterRegistry registryOrNull, DispatchScheduler scheduler) {
        this.registry = registryOrNull == null ? new CompositeMeterRegistry() : registryOrNull;
        for (JobLane lane : JobLane.values()) {
            Gauge.builder("inferq.dispatcher.queue.depth", scheduler, s -> s.queuedJobs(lane))
                    .tag("lane", lane.apiName()).description("jobs waiting in the central queue").register(registry);
            waitByLane.put(lane, Timer.builder("inferq.dispatcher.queue.wait").tag("lane", lane.apiName())
                    .description("time from enqueue to dispatch").register(registry));
            expiredByLane.put(lane, Counter.builder("inferq.dispatcher.expired").tag("lane", lane.apiName())
                    .description("queued jobs expired (deadline passed or predicted to be missed)")
                    .register(registry));
        }
        cancelled = Counter.builder("inferq.dispatcher.cancelled").description("queued jobs cancelled")
                .register(registry);
        heldByHeadroom = Counter.builder("inferq.dispatcher.headroom.held")
                .description("decisions that held a group back because only reserved (headroom) credits were free")
                .register(registry);
    }

    void registerPool(String poolId, DispatchScheduler scheduler) {
        Gauge.builder("inferq.dispatcher.pool.inflight.batches", scheduler, s -> s.inFlightBatches(poolId))
                .tag("pool", poolId).register(registry);
        Gauge.builder("inferq.dispatcher.pool.credits.free", scheduler, s -> s.freeBatchCredits(poolId))
                .tag("pool", poolId).register(registry);
        Gauge.builder("inferq.dispatcher.pool.credits.reserved", scheduler, s -> s.reservedCredits(poolId))
                .tag("pool", poolId).description("free credits kept for work below its share (headroom)")
                .register(registry);
        Gauge.builder("inferq.dispatcher.pool.utilisation", scheduler, s -> s.creditUtilisation(poolId))
                .tag("pool", poolId).description("share of batch credits in use").register(registry);
        Gauge.builder("inferq.dispatcher.pool.service.time.scale", scheduler, s -> s.serviceTime(poolId).prefillScale())
                .tag("pool", poolId).tag("phase", "prefill")
                .description("learned prefill time ÷ the configured (roofline) one").register(registry);
        Gauge.builder("inferq.dispatcher.pool.service.time.scale", scheduler, s -> s.serviceTime(poolId).decodeScale())
                .tag("pool", poolId).tag("phase", "decode")
                .description("learned decode time ÷ the configured (roofline) one").register(registry);
        Gauge.builder("inferq.dispatcher.pool.service.time.scale", scheduler, s -> s.serviceTime(poolId).overallScale())
                .tag("pool", poolId).tag("phase", "overall")
                .description("learned time of the pool's recent mean batch ÷ the configured (roofline) one").register(registry);
        Gauge.builder("inferq.dispatcher.pool.service.time.scale", scheduler,
                        s -> s.serviceTime(poolId).prefillLatencyScale())
                .tag("pool", poolId).tag("phase", "first_token")
                .description("observed time to a batch's first tokens ÷ the predicted (roofline) one").register(registry);
        batchSize.put(poolId, DistributionSummary.builder("inferq.dispatcher.batch.size").tag("pool", poolId)
                .baseUnit("jobs").register(registry));
        affinityBatches.put(poolId, Counter.builder("inferq.dispatcher.batch.prefix.affinity").tag("pool", poolId)
                .description("batches that took a job ahead of an older one of its group for the prefix this pool caches")
                .register(registry));
        paddingWaste.put(poolId, DistributionSummary.builder("inferq.dispatcher.batch.padding.waste")
                .tag("pool", poolId).description("share of padded prompt positions that are padding, 0..1")
                .register(registry));
    }

    void dispatched(BatchPlan plan, long nowMs) {
        int longest = 0;
        long sum = 0;
        for (QueuedJob j : plan.jobs()) {
            longest = Math.max(longest, j.promptTokens());
            sum += j.promptTokens();
            waitByLane.get(j.lane()).record(Duration.ofMillis(Math.max(0, nowMs - j.enqueuedAtMs())));
        }
        batchSize.get(plan.poolId()).record(plan.jobs().size());
        long padded = (long) longest * plan.jobs().size();
        paddingWaste.get(plan.poolId()).record(padded == 0 ? 0 : (double) (padded - sum) / padded);
    }

    /**
     * Registers, the first time a tenant is backlogged in a fairness domain, its service, backlog and virtual token
     * counter there (one series per tenant × model × lane: tenants are configured, so the set is bounded).
     */
    void tenantBacklogged(String model, JobLane lane, String tenant, VirtualTokenCounter vtc) {
        if (!tenantMeters.add(model + "\u0000" + lane + "\u0000" + tenant)) {
            return;
        }
        FunctionCounter.builder("inferq.dispatcher.tenant.service", vtc, v -> v.service(tenant))
                .tag("tenant", tenant).tag("model", model).tag("lane", lane.apiName()).baseUnit("tokens")
                .description("weighted service dispatched for the tenant: prefill-weight × uncached prompt tokens "
                        + "+ decode-weight × output tokens")
                .register(registry);
        Gauge.builder("inferq.dispatcher.tenant.backlog", vtc, v -> v.backlog(tenant))
                .tag("tenant", tenant).tag("model", model).tag("lane", lane.apiName()).baseUnit("jobs")
                .description("the tenant's jobs waiting in the central queue").register(registry);
        Gauge.builder("inferq.dispatcher.tenant.virtual.counter", vtc, v -> v.counter(tenant))
                .tag("tenant", tenant).tag("model", model).tag("lane", lane.apiName()).baseUnit("tokens")
                .description("the tenant's virtual token counter (service ÷ weight, lifted when it returns from idle); "
                        + "the backlogged tenant with the lowest is served next")
                .register(registry);
    }

    void formedByAffinity(String poolId) {
        affinityBatches.get(poolId).increment();
    }

    void rejected(String code, JobLane lane) {
        rejections.computeIfAbsent(code + "/" + lane, k -> Counter.builder("inferq.dispatcher.rejections")
                .tag("code", code).tag("lane", lane.apiName()).register(registry)).increment();
    }

    void expired(JobLane lane) {
        expiredByLane.get(lane).increment();
    }

    void heldByHeadroom() {
        heldByHeadroom.increment();
    }

    void cancelled() {
        cancelled.increment();
    }
}
