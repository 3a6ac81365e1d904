package io.inferq.dispatcher.fairness;

import java.util.Map;
import java.util.Objects;

/**
 * Settings of fair sharing between tenants (the Virtual Token Counter, see {@link VirtualTokenCounter}). Immutable;
 * validated in the constructor with messages that name the setting.
 *
 * @param enabled              whether the dispatcher serves tenants by their virtual token counters; {@code false}
 *                             serves each lane oldest-first across tenants (the counters are still kept, for metrics)
 * @param prefillWeight        service charged per prompt token not served from the KV cache, &gt; 0
 * @param decodeWeight         service charged per output token, &gt; 0
 * @param affinityBudgetTokens prefix affinity may take a tenant's job ahead of its fair turn only while that
 *                             tenant's counter is at most this many (weighted) service tokens above the lowest
 *                             counter of the backlogged tenants, &ge; 0 (0: affinity never favours a tenant that
 *                             is ahead)
 * @param tenantWeights        tenant → weight (&gt; 0); a tenant of weight 2 is entitled to twice the service of a
 *                             tenant of weight 1 while both are backlogged. Tenants not named weigh 1.
 * @param fairCredits          whether each pool instance has <em>fair credits</em> on top of the dispatcher's
 *                             {@code maxInFlightBatchesPerInstance} batch credits — as many as the pool's sequence cap
 *                             ({@code maxConcurrentSequences}) — that only interactive work of a tenant below its weighted
 *                             share of the model's in-flight work may take ({@link InFlightWork#belowShare}), sent at
 *                             once without waiting to fill a batch. For continuous-batching engines, where each credit
 *                             is one stream into the instance's engine: a tenant below its share never waits in the queue
 *                             for a credit a flooding tenant holds, and the flooding tenant keeps exactly the credits it
 *                             had (see the {@code DispatchScheduler}'s "Fair credits")
 */
public record FairnessConfig(boolean enabled, double prefillWeight, double decodeWeight, long affinityBudgetTokens,
                             Map<String, Double> tenantWeights, boolean fairCredits) {

    /** Default of {@link #affinityBudgetTokens}: about one full batch (32k prompt tokens plus decode) of service. */
    public static final long DEFAULT_AFFINITY_BUDGET_TOKENS = 65_536;

    public FairnessConfig {
        requirePositive("prefillWeight", prefillWeight);
        requirePositive("decodeWeight", decodeWeight);
        if (affinityBudgetTokens < 0) {
            throw new IllegalArgumentException("affinityBudgetTokens must not be negative, was " + affinityBudgetTokens);
        }
        tenantWeights = Map.copyOf(Objects.requireNonNull(tenantWeights, "tenantWeights must not be null (use Map.of())"));
        tenantWeights.forEach((tenant, w) -> requirePositive("tenantWeights[" + tenant + "]", w == null ? 0 : w));
    }

    /** Without fair credits. */
    public FairnessConfig(boolean enabled, double prefillWeight, double decodeWeight, long affinityBudgetTokens,
                          Map<String, Double> tenantWeights) {
        this(enabled, prefillWeight, decodeWeight, affinityBudgetTokens, tenantWeights, false);
    }

    /**
     * Fair sharing on: prefill weight 1, decode weight 2 (an output token costs about twice an input token, as in
     * the VTC paper's evaluation and in API prices), affinity budget {@value #DEFAULT_AFFINITY_BUDGET_TOKENS}, every
     * tenant of weight 1, fair credits on (as the server: without them a flooding tenant's batches hold every credit and
     * the others wait in the queue; see the README's "Fair credits" for the figures).
     */
    public static FairnessConfig defaults() {
        return new FairnessConfig(true, 1.0, 2.0, DEFAULT_AFFINITY_BUDGET_TOKENS, Map.of(), true);
    }

    /** Each lane oldest-first across tenants, as before fair sharing (the baseline of {@code bench-fairness}). */
    public static FairnessConfig oldestFirst() {
        return defaults().withEnabled(false);
    }

    /** The weight of {@code tenant} (1 unless configured). */
    public double weightOf(String tenant) {
        Double w = tenantWeights.get(tenant);
        return w == null ? 1.0 : w;
    }

    /** Weighted service of a job: {@code prefillWeight × uncachedPrompt + decodeWeight × outputTokens}. */
    public double serviceOf(long uncachedPromptTokens, long outputTokens) {
        return prefillWeight * uncachedPromptTokens + decodeWeight * outputTokens;
    }

    public FairnessConfig withEnabled(boolean v) {
        return new FairnessConfig(v, prefillWeight, decodeWeight, affinityBudgetTokens, tenantWeights, fairCredits);
    }

    public FairnessConfig withTenantWeights(Map<String, Double> v) {
        return new FairnessConfig(enabled, prefillWeight, decodeWeight, affinityBudgetTokens, v, fairCredits);
    }

    public FairnessConfig withAffinityBudgetTokens(long v) {
        return new FairnessConfig(enabled, prefillWeight, decodeWeight, v, tenantWeights, fairCredits);
    }

    public FairnessConfig withServiceWeights(double prefill, double decode) {
        return new FairnessConfig(enabled, prefill, decode, affinityBudgetTokens, tenantWeights, fairCredits);
    }

    public FairnessConfig withFairCredits(boolean v) {
        return new FairnessConfig(enabled, prefillWeight, decodeWeight, affinityBudgetTokens, tenantWeights, v);
    }

    private static void requirePositive(String setting, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(setting + " must be a positive number, was " + v);
        }
    }
}
