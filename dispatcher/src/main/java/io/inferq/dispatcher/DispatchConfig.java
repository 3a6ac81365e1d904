package io.inferq.dispatcher;

import java.util.Map;
import java.util.Objects;

/**
 * Every limit of the dispatcher's scheduler, validated in the constructor with messages that name the
 * setting. Immutable.
 *
 * @param lengthBuckets              prompt-length bucket edges; a batch never mixes buckets
 * @param interactiveMaxWaitMs       an interactive bucket that cannot fill a batch is sent anyway once its
 *                                   oldest job has waited this long
 * @param batchMaxWaitMs             the same for the batch lane
 * @param batchPromotionAfterMs      anti-starvation: a batch-lane bucket whose oldest job has waited this
 *                                   long competes with the interactive lane, ordered by its enqueue time
 * @param maxQueuedJobs              hard bound on queued jobs; {@link DispatchScheduler#enqueue} refuses
 *                                   beyond it and the runtime pauses intake before reaching it
 * @param defaultTenantQueuedTokens  per-tenant quota on queued tokens (prompt + max output) for tenants
 *                                   without an override
 * @param tenantQueuedTokens         per-tenant quota overrides (tenant → tokens)
 * @param maxInFlightBatchesPerInstance batch credits: how many batches each pool instance may hold at once
 *                                   (running plus waiting on the instance)
 * @param prefixBlockTokens          tokens per prefix block, to turn cached blocks into cached tokens
 * @param prefixOverlapWeight        0..1: how much the completion-time estimate trusts cached prefix blocks
 *                                   (0 = prefix-blind routing, 1 = fully trusted)
 * @param expireOnPredictedMiss      whether {@link DispatchScheduler#expireDue} also expires queued jobs
 *                                   whose predicted dispatch time is after their deadline (not just those
 *                                   already past it)
 * @param referenceOutputTokens      output length assumed when estimating a pool's throughput for
 *                                   predicted-wait calculations
 * @param dispatchToIdleInstances    work conservation: an interactive bucket is sent at once, without waiting
 *                                   for its max wait or a full batch, while a pool that can run it has an idle
 *                                   instance (nothing in flight there); the max wait then only applies while
 *                                   every instance is busy, when waiting builds bigger batches at no cost
 * @param headroomCredits            headroom: each pool keeps its last {@code min(headroomCredits, credits − 1)}
 *                                   free batch credits for work below its share (interactive work while the batch
 *                                   lane runs; tenants holding less than their weighted share of the model's
 *                                   credits), see {@link DispatchScheduler}; 0 = fully work-conserving
 * @param headroomWindowMs           how long interactive traffic (or a tenant) seen for a model keeps the headroom
 *                                   reserved for it (or counts the tenant as active for the shares)
 * @param headroomIdleInstances      headroom in whole instances (with {@code headroomCredits} &gt; 0): work that may
 *                                   not take reserved credits may also not start on an idle instance while this many
 *                                   or fewer of the model's instances are idle; 0 = credits only
 */
public record DispatchConfig(LengthBuckets lengthBuckets,
                             long interactiveMaxWaitMs,
                             long batchMaxWaitMs,
                             long batchPromotionAfterMs,
                             int maxQueuedJobs,
                             long defaultTenantQueuedTokens,
                             Map<String, Long> tenantQueuedTokens,
                             int maxInFlightBatchesPerInstance,
                             int prefixBlockTokens,
                             double prefixOverlapWeight,
                             boolean expireOnPredictedMiss,
                             int referenceOutputTokens,
                             boolean dispatchToIdleInstances,
                             int headroomCredits,
                             long headroomWindowMs,
                             int headroomIdleInstances) {

    /** Headroom reservation used when none is given: {@value #DEFAULT_HEADROOM_CREDITS} credit per pool. */
    public static final int DEFAULT_HEADROOM_CREDITS = 0;
    /** Window of the headroom reservation used when none is given: {@value #DEFAULT_HEADROOM_WINDOW_MS} ms. */
    public static final long DEFAULT_HEADROOM_WINDOW_MS = 30_000;
    /** Idle instances kept per model used when none is given: {@value #DEFAULT_HEADROOM_IDLE_INSTANCES}. */
    public static final int DEFAULT_HEADROOM_IDLE_INSTANCES = 0;

    /**
     * The bounds of the numeric settings, declared once: the constructor holds every value to them, and the server's
     * configuration declares its {@code dispatcher.*} settings with them (a deployment setting may only narrow them).
     */
    public enum Bound {
        INTERACTIVE_MAX_WAIT_MS("interactiveMaxWaitMs", 0, Double.POSITIVE_INFINITY),
        BATCH_MAX_WAIT_MS("batchMaxWaitMs", 0, Double.POSITIVE_INFINITY),
        BATCH_PROMOTION_AFTER_MS("batchPromotionAfterMs", 0, Double.POSITIVE_INFINITY),
        MAX_QUEUED_JOBS("maxQueuedJobs", 1, Double.POSITIVE_INFINITY),
        DEFAULT_TENANT_QUEUED_TOKENS("defaultTenantQueuedTokens", 1, Double.POSITIVE_INFINITY),
        MAX_IN_FLIGHT_BATCHES_PER_INSTANCE("maxInFlightBatchesPerInstance", 1, Double.POSITIVE_INFINITY),
        PREFIX_BLOCK_TOKENS("prefixBlockTokens", 1, Double.POSITIVE_INFINITY),
        PREFIX_OVERLAP_WEIGHT("prefixOverlapWeight", 0, 1),
        REFERENCE_OUTPUT_TOKENS("referenceOutputTokens", 1, Double.POSITIVE_INFINITY),
        HEADROOM_CREDITS("headroomCredits", 0, Double.POSITIVE_INFINITY),
        HEADROOM_WINDOW_MS("headroomWindowMs", 0, Double.POSITIVE_INFINITY),
        HEADROOM_IDLE_INSTANCES("headroomIdleInstances", 0, Double.POSITIVE_INFINITY);

        private final String setting;
        private final double min;
        private final double max;

        Bound(String setting, double min, double max) {
            this.setting = setting;
            this.min = min;
            this.max = max;
        }

        /** The smallest allowed value. */
        public double min() {
            return min;
        }

        /** The largest allowed value; {@link Double#POSITIVE_INFINITY}: unbounded. */
        public double max() {
            return max;
        }

        void check(long value) {
            if (!(value >= min && value <= max)) {
                throw outside(value);
            }
        }

        void check(double value) {
            if (!(value >= min && value <= max)) {
                throw outside(value);
            }
        }

        private IllegalArgumentException outside(Object value) {
            return new IllegalArgumentException(setting + " must " + this + ", was " + value);
        }

        /** The bound as a message says it: {@code not be negative}, {@code be at least 1}, {@code be within [0,1]}. */
        @Override
        public String toString() {
            if (max != Double.POSITIVE_INFINITY) {
                return "be within [" + fmt(min) + "," + fmt(max) + "]";
            }
            return min == 0 ? "not be negative" : "be at least " + fmt(min);
        }

        private static String fmt(double d) {
            return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
        }
    }

    public DispatchConfig {
        Objects.requireNonNull(lengthBuckets, "lengthBuckets must not be null");
        Bound.INTERACTIVE_MAX_WAIT_MS.check(interactiveMaxWaitMs);
        Bound.BATCH_MAX_WAIT_MS.check(batchMaxWaitMs);
        Bound.BATCH_PROMOTION_AFTER_MS.check(batchPromotionAfterMs);
        Bound.MAX_QUEUED_JOBS.check(maxQueuedJobs);
        Bound.DEFAULT_TENANT_QUEUED_TOKENS.check(defaultTenantQueuedTokens);
        tenantQueuedTokens = Map.copyOf(Objects.requireNonNull(tenantQueuedTokens,
                "tenantQueuedTokens must not be null (use Map.of())"));
        tenantQueuedTokens.forEach((tenant, quota) -> {
            if (quota == null || quota < Bound.DEFAULT_TENANT_QUEUED_TOKENS.min()) {
                throw new IllegalArgumentException(
                        "tenantQueuedTokens[" + tenant + "] must " + Bound.DEFAULT_TENANT_QUEUED_TOKENS + ", was " + quota);
            }
        });
        Bound.MAX_IN_FLIGHT_BATCHES_PER_INSTANCE.check(maxInFlightBatchesPerInstance);
        Bound.PREFIX_BLOCK_TOKENS.check(prefixBlockTokens);
        Bound.PREFIX_OVERLAP_WEIGHT.check(prefixOverlapWeight);
        Bound.HEADROOM_CREDITS.check(headroomCredits);
        Bound.HEADROOM_WINDOW_MS.check(headroomWindowMs);
        Bound.HEADROOM_IDLE_INSTANCES.check(headroomIdleInstances);
        Bound.REFERENCE_OUTPUT_TOKENS.check(referenceOutputTokens);
    }

    /** Without explicit headroom: {@link #DEFAULT_HEADROOM_CREDITS} and {@link #DEFAULT_HEADROOM_WINDOW_MS}. */
    public DispatchConfig(LengthBuckets lengthBuckets, long interactiveMaxWaitMs, long batchMaxWaitMs,
                          long batchPromotionAfterMs, int maxQueuedJobs, long defaultTenantQueuedTokens,
                          Map<String, Long> tenantQueuedTokens, int maxInFlightBatchesPerInstance, int prefixBlockTokens,
                          double prefixOverlapWeight, boolean expireOnPredictedMiss, int referenceOutputTokens,
                          boolean dispatchToIdleInstances) {
        this(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                DEFAULT_HEADROOM_CREDITS, DEFAULT_HEADROOM_WINDOW_MS, DEFAULT_HEADROOM_IDLE_INSTANCES);
    }

    /**
     * Defaults: {@link LengthBuckets#defaults()}, 25 ms interactive / 250 ms batch max wait, batch-lane
     * promotion after 30 s, 10,000 queued jobs, 4M queued tokens per tenant, 4 in-flight batches per
     * instance (engine streams: see the README's <em>Batch credits per instance</em>), 64-token prefix blocks,
     * prefix weight 1, predicted-miss expiry on, 256 reference output tokens, idle instances served at once, no
     * headroom (fully work-conserving; window 30 s when headroom is set).
     */
    public static DispatchConfig defaults() {
        return new DispatchConfig(LengthBuckets.defaults(), 25, 250, 30_000, 10_000, 4_000_000L, Map.of(),
                4, 64, 1.0, true, 256, true);
    }

    /** Queued-token quota of {@code tenant}. */
    public long quotaOf(String tenant) {
        return tenantQueuedTokens.getOrDefault(tenant, defaultTenantQueuedTokens);
    }

    public DispatchConfig withLengthBuckets(LengthBuckets v) {
        return new DispatchConfig(v, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withMaxWaits(long interactiveMs, long batchMs) {
        return new DispatchConfig(lengthBuckets, interactiveMs, batchMs, batchPromotionAfterMs, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withBatchPromotionAfterMs(long v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, v, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withMaxQueuedJobs(int v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs, v,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withTenantQuotas(long defaultTokens, Map<String, Long> overrides) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTokens, overrides, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withMaxInFlightBatchesPerInstance(int v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, v, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withPrefix(int blockTokens, double overlapWeight) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                blockTokens, overlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withExpireOnPredictedMiss(boolean v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, v, referenceOutputTokens, dispatchToIdleInstances,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    public DispatchConfig withDispatchToIdleInstances(boolean v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, v,
                headroomCredits, headroomWindowMs, headroomIdleInstances);
    }

    /** With headroom {@code credits} per pool (0 = fully work-conserving) kept for {@code windowMs}. */
    public DispatchConfig withHeadroom(int credits, long windowMs) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens,
                dispatchToIdleInstances, credits, windowMs, headroomIdleInstances);
    }

    /** With headroom of {@code instances} idle instances per model for work that may not take reserved credits. */
    public DispatchConfig withHeadroomIdleInstances(int instances) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens,
                dispatchToIdleInstances, headroomCredits, headroomWindowMs, instances);
    }
}
