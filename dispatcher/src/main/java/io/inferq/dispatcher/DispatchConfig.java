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
                             boolean dispatchToIdleInstances) {

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
        if (referenceOutputTokens < 1) {
            throw new IllegalArgumentException(
                    "referenceOutputTokens must be at least 1, was " + referenceOutputTokens);
        }
    }

    /**
     * Defaults: {@link LengthBuckets#defaults()}, 25 ms interactive / 250 ms batch max wait, batch-lane
     * promotion after 30 s, 10,000 queued jobs, 4M queued tokens per tenant, 2 in-flight batches per
     * instance, 64-token prefix blocks, prefix weight 1, predicted-miss expiry on, 256 reference output tokens,
     * idle instances served at once.
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
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withMaxWaits(long interactiveMs, long batchMs) {
        return new DispatchConfig(lengthBuckets, interactiveMs, batchMs, batchPromotionAfterMs, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withBatchPromotionAfterMs(long v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, v, maxQueuedJobs,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withMaxQueuedJobs(int v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs, v,
                defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withTenantQuotas(long defaultTokens, Map<String, Long> overrides) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTokens, overrides, maxInFlightBatchesPerInstance, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withMaxInFlightBatchesPerInstance(int v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, v, prefixBlockTokens,
                prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withPrefix(int blockTokens, double overlapWeight) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                blockTokens, overlapWeight, expireOnPredictedMiss, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withExpireOnPredictedMiss(boolean v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, v, referenceOutputTokens, dispatchToIdleInstances);
    }

    public DispatchConfig withDispatchToIdleInstances(boolean v) {
        return new DispatchConfig(lengthBuckets, interactiveMaxWaitMs, batchMaxWaitMs, batchPromotionAfterMs,
                maxQueuedJobs, defaultTenantQueuedTokens, tenantQueuedTokens, maxInFlightBatchesPerInstance,
                prefixBlockTokens, prefixOverlapWeight, expireOnPredictedMiss, referenceOutputTokens, v);
    }

    private static void requireNonNegative(String setting, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(setting + " must not be negative, was " + value);
        }
    }
}
