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

    public DispatchConfig {
        Objects.requireNonNull(lengthBuckets, "lengthBuckets must not be null");
        requireNonNegative("interactiveMaxWaitMs", interactiveMaxWaitMs);
        requireNonNegative("batchMaxWaitMs", batchMaxWaitMs);
        requireNonNegative("batchPromotionAfterMs", batchPromotionAfterMs);
        if (maxQueuedJobs < 1) {
            throw new IllegalArgumentException("maxQueuedJobs must be at least 1, was " + maxQueuedJobs);
        }
        if (defaultTenantQueuedTokens < 1) {
            throw new IllegalArgumentException(
                    "defaultTenantQueuedTokens must be at least 1, was " + defaultTenantQueuedTokens);
        }
        tenantQueuedTokens = Map.copyOf(Objects.requireNonNull(tenantQueuedTokens,
                "tenantQueuedTokens must not be null (use Map.of())"));
        tenantQueuedTokens.forEach((tenant, quota) -> {
            if (quota == null || quota < 1) {
                throw new IllegalArgumentException(
                        "tenantQueuedTokens[" + tenant + "] must be at least 1, was " + quota);
            }
        });
        if (maxInFlightBatchesPerInstance < 1) {
            throw new IllegalArgumentException(
                    "maxInFlightBatchesPerInstance must be at least 1, was " + maxInFlightBatchesPerInstance);
        }
        if (prefixBlockTokens < 1) {
            throw new IllegalArgumentException("prefixBlockTokens must be at least 1, was " + prefixBlockTokens);
        }
        if (!(prefixOverlapWeight >= 0.0 && prefixOverlapWeight <= 1.0)) {
            throw new IllegalArgumentException(
                    "prefixOverlapWeight must be within [0,1], was " + prefixOverlapWeight);
        }
        if (headroomCredits < 0) {
            throw new IllegalArgumentException("headroomCredits must not be negative, was " + headroomCredits);
        }
        requireNonNegative("headroomWindowMs", headroomWindowMs);
        if (headroomIdleInstances < 0) {
            throw new IllegalArgumentException("headroomIdleInstances must not be negative, was " + headroomIdleInstances);
        }
        if (referenceOutputTokens < 1) {
            throw new IllegalArgumentException(
                    "referenceOutputTokens must be at least 1, was " + referenceOutputTokens);
        }
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
     * promotion after 30 s, 10,000 queued jobs, 4M queued tokens per tenant, 2 in-flight batches per
     * instance, 64-token prefix blocks, prefix weight 1, predicted-miss expiry on, 256 reference output tokens,
     * idle instances served at once, no headroom (fully work-conserving; window 30 s when headroom is set).
     */
    public static DispatchConfig defaults() {
        return new DispatchConfig(LengthBuckets.defaults(), 25, 250, 30_000, 10_000, 4_000_000L, Map.of(),
                2, 64, 1.0, true, 256, true);
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

    private static void requireNonNegative(String setting, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(setting + " must not be negative, was " + value);
        }
    }
}
