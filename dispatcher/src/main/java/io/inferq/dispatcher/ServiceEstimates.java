package io.inferq.dispatcher;

import java.util.List;
import java.util.Map;

/**
 * What a candidate batch would cost on a pool: the prompt tokens its pools cache (one memoised {@link PrefixLocator}
 * call per job and decision) and its calibrated service time. Not thread-safe: confined to the
 * {@link DispatchScheduler}'s thread.
 */
final class ServiceEstimates {

    private final DispatchConfig config;
    private final PrefixLocator prefixes;
    private final Map<String, PoolLedger> pools;

    ServiceEstimates(DispatchConfig config, PrefixLocator prefixes, Map<String, PoolLedger> pools) {
        this.config = config;
        this.prefixes = prefixes;
        this.pools = pools;
    }

    Map<String, Integer> lookup(QueuedJob j, Map<String, Map<String, Integer>> memo) {
        return memo.computeIfAbsent(j.jobId(), k -> prefixes.cachedLeadingBlocksByPool(j.prefixBlockHashes()));
    }

    long cachedTokens(List<QueuedJob> jobs, String poolId, Map<String, Map<String, Integer>> memo) {
        if (config.prefixOverlapWeight() == 0.0 && prefixes == PrefixLocator.NONE) {
            return 0;
        }
        long cached = 0;
        for (QueuedJob j : jobs) {
            if (j.prefixBlockHashes().isEmpty()) {
                continue;
            }
            Map<String, Integer> byPool = lookup(j, memo);
            int blocks = byPool == null ? 0 : byPool.getOrDefault(poolId, 0);
            cached += Math.min((long) blocks * config.prefixBlockTokens(), j.promptTokens() - 1L);
        }
        return cached;
    }

    /** Estimated seconds for {@code jobs} as one batch on one instance of {@code pool} (calibrated). */
    double serviceSeconds(PoolProfile pool, List<QueuedJob> jobs, long cachedTokens) {
        PoolLedger ledger = pools.get(pool.poolId());
        return ledger.model.seconds(priorEstimate(ledger, jobs, cachedTokens));
    }

    /** The prior's parts of {@code jobs} as one batch on {@code pool}, for estimating and later calibrating. */
    CalibratedServiceTime.Estimate priorEstimate(PoolLedger pool, List<QueuedJob> jobs, long cachedTokens) {
        long prompt = 0;
        int maxOut = 0;
        for (QueuedJob j : jobs) {
            prompt += j.promptTokens();
            maxOut = Math.max(maxOut, j.maxTokens());
        }
        long fetched = Math.round(config.prefixOverlapWeight() * cachedTokens);
        long uncached = Math.max(0, prompt - fetched);
        return pool.model.priorEstimate((int) Math.min(Integer.MAX_VALUE, uncached), jobs.size(), maxOut, prompt, fetched);
    }

    /** Prefix blocks of {@code jobs} each instance of the pool holds, summed; empty when the locator cannot tell. */
    int[] cachedBlocksByInstance(PoolLedger pool, List<QueuedJob> jobs) {
        if (prefixes == PrefixLocator.NONE) {
            return new int[0];
        }
        int[] sum = new int[0];
        for (QueuedJob j : jobs) {
            if (j.prefixBlockHashes().isEmpty()) {
                continue;
            }
            int[] each = prefixes.cachedLeadingBlocksByInstance(pool.profile.poolId(), j.prefixBlockHashes());
            if (each.length == 0) {
                return each;
            }
            if (sum.length == 0) {
                sum = new int[each.length];
            }
            for (int i = 0; i < Math.min(sum.length, each.length); i++) {
                sum[i] += each[i];
            }
        }
        return sum;
    }
}
