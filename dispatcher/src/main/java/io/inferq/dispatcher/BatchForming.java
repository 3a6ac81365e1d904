package io.inferq.dispatcher;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.inferq.dispatcher.DispatchScheduler.AFFINITY_LOOKAHEAD_FACTOR;
import static io.inferq.dispatcher.DispatchScheduler.MAX_AFFINITY_SKIPS;

/**
 * How the {@link DispatchScheduler} forms a batch from a group for a pool: first fit in service order, or with prefix
 * affinity a per-pool ranking of the look-ahead window (see the scheduler's "Batch forming" and "Prefix-affinity batch
 * forming"). Not thread-safe: confined to the scheduler's thread.
 */
final class BatchForming {

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final PrefixLocator prefixes;
    private final Map<String, ModelState> models;
    private final Headroom headroom;
    private final ServiceEstimates estimates;

    BatchForming(DispatchConfig config, FairnessConfig fairness, PrefixLocator prefixes, Map<String, ModelState> models,
                 Headroom headroom, ServiceEstimates estimates) {
        this.config = config;
        this.fairness = fairness;
        this.prefixes = prefixes;
        this.models = models;
        this.headroom = headroom;
        this.estimates = estimates;
    }

    /** Whether batches are formed per pool by prefix affinity (weight &gt; 0 and a real locator). */
    boolean affinity() {
        return config.prefixOverlapWeight() > 0.0 && prefixes != PrefixLocator.NONE;
    }

    /**
     * The route options of one decision with prefix-affinity batch forming. The look-ahead window is the
     * group's first {@value DispatchScheduler#AFFINITY_LOOKAHEAD_FACTOR} × (largest candidate sequence cap) jobs in service order
     * ({@link GroupSelection#serviceOrder}: queue order, or fair order with fair sharing); jobs of a tenant beyond the affinity
     * budget rank after every other job of the window, in that order.
     * For each candidate pool the window is ranked: the head first, then jobs passed over
     * {@value DispatchScheduler#MAX_AFFINITY_SKIPS} times already (queue order), then the rest by the prompt tokens this pool
     * caches minus the most any other candidate caches (so a job is left to the pool holding its prefix), then
     * by tokens cached here, then queue order. The pool's batch and its comparison batch (the decision's
     * smallest limits, so pools are compared on equally sized batches) are first fits over that ranking.
     *
     * @return null if no candidate caches any prompt token of the window: queue order then decides, as without
     *         prefix-aware routing
     */
    List<RouteOption> affinityOptions(BucketQueue g, List<QueuedJob> serviceOrder, List<PoolLedger> candidates,
                                              int cmpTokens, int cmpSeqs, long nowMs,
                                              Map<String, Map<String, Integer>> memo) {
        int maxSeqs = 1;
        for (PoolLedger p : candidates) {
            maxSeqs = Math.max(maxSeqs, p.profile.maxConcurrentSequences());
        }
        int limit = AFFINITY_LOOKAHEAD_FACTOR * maxSeqs;
        List<QueuedJob> window = serviceOrder.size() <= limit ? serviceOrder : serviceOrder.subList(0, limit);
        int n = window.size();
        int c = candidates.size();
        long[][] cached = new long[c][n];
        for (int i = 0; i < n; i++) {
            QueuedJob j = window.get(i);
            if (j.prefixBlockHashes().isEmpty()) {
                continue;
            }
            Map<String, Integer> byPool = estimates.lookup(j, memo);
            if (byPool == null || byPool.isEmpty()) {
                continue;
            }
            for (int k = 0; k < c; k++) {
                int blocks = byPool.getOrDefault(candidates.get(k).profile.poolId(), 0);
                cached[k][i] = Math.min((long) blocks * config.prefixBlockTokens(), j.promptTokens() - 1L);
            }
        }
        boolean anyCached = false;
        for (int k = 0; k < c && !anyCached; k++) {
            for (int i = 0; i < n && !anyCached; i++) {
                anyCached = cached[k][i] > 0;
            }
        }
        if (!anyCached) {
            return null;
        }
        boolean[] mandatory = new boolean[n];
        // fair sharing: a tenant too far ahead of the lowest backlogged counter gets no job pulled forward
        boolean[] overBudget = new boolean[n];
        VirtualTokenCounter vtc = models.get(g.key.model()).fair[g.key.lane().ordinal()];
        Map<String, Boolean> within = new HashMap<>();
        for (int i = 0; i < n; i++) {
            mandatory[i] = i == 0 || g.skips.getOrDefault(window.get(i).jobId(), 0) >= MAX_AFFINITY_SKIPS;
            overBudget[i] = !mandatory[i] && fairness.enabled()
                    && !within.computeIfAbsent(window.get(i).tenant(), vtc::withinAffinityBudget);
        }
        List<RouteOption> options = new ArrayList<>(c);
        for (int k = 0; k < c; k++) {
            PoolLedger p = candidates.get(k);
            long[] here = cached[k];
            long[] score = new long[n];
            for (int i = 0; i < n; i++) {
                long other = 0;
                for (int q = 0; q < c; q++) {
                    if (q != k) {
                        other = Math.max(other, cached[q][i]);
                    }
                }
                score[i] = here[i] - other;
            }
            List<Integer> order = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                order.add(i);
            }
            order.sort((a, b) -> {
                if (mandatory[a] != mandatory[b]) {
                    return mandatory[a] ? -1 : 1;
                }
                if (mandatory[a]) {
                    return Integer.compare(a, b);
                }
                if (overBudget[a] != overBudget[b]) {
                    return overBudget[a] ? 1 : -1;
                }
                if (overBudget[a]) {
                    return Integer.compare(a, b);
                }
                if (score[a] != score[b]) {
                    return Long.compare(score[b], score[a]);
                }
                if (here[a] != here[b]) {
                    return Long.compare(here[b], here[a]);
                }
                return Integer.compare(a, b);
            });
            List<QueuedJob> comparison = new ArrayList<>();
            long cachedCmp = 0;
            for (int i : take(window, order, cmpTokens, cmpSeqs)) {
                comparison.add(window.get(i));
                cachedCmp += here[i];
            }
            List<QueuedJob> jobs = new ArrayList<>();
            if (headroom.usableCredits(p) > 0) {
                for (int i : take(window, order, p.profile.maxBatchTokens(), p.profile.maxConcurrentSequences())) {
                    jobs.add(window.get(i));
                }
            }
            options.add(new RouteOption(p.profile, jobs, headroom.usableCredits(p), p.totalCredits(), p.inFlightBatches(),
                    p.inFlightSequences(), p.aheadSeconds(nowMs), estimates.serviceSeconds(p.profile, comparison, cachedCmp),
                    cachedCmp));
        }
        return options;
    }

    /**
     * First fit over {@code order} (indices into {@code window}) within the limits, looking at most two batches'
     * worth of sequences into the ranking (as {@link #fit}); the indices taken, in queue order. The first index of
     * {@code order} (the head) is always taken if it fits at all.
     */
    static List<Integer> take(List<QueuedJob> window, List<Integer> order, int maxTokens, int maxSeqs) {
        List<Integer> out = new ArrayList<>();
        long tokens = 0;
        int scanned = 0;
        int scanLimit = 2 * maxSeqs;
        for (int i : order) {
            if (out.size() >= maxSeqs || scanned++ >= scanLimit || tokens >= maxTokens) {
                break;
            }
            int prompt = window.get(i).promptTokens();
            if (tokens + prompt <= maxTokens) {
                out.add(i);
                tokens += prompt;
            }
        }
        Collections.sort(out);
        return out;
    }

    /**
     * Counts, for every job of {@code g} that {@code taken} passes over (before a taken job in {@code order}, the
     * group's service order, but not taken), one skip. A job skipped {@value DispatchScheduler#MAX_AFFINITY_SKIPS} times goes ahead of
     * all affinity choices.
     *
     * @return whether any job was passed over
     */
    static boolean recordSkips(BucketQueue g, List<QueuedJob> order, List<QueuedJob> taken) {
        Set<String> ids = new HashSet<>();
        for (QueuedJob j : taken) {
            ids.add(j.jobId());
        }
        int remaining = ids.size();
        boolean passed = false;
        for (QueuedJob j : order) {
            if (remaining == 0) {
                break;
            }
            if (ids.contains(j.jobId())) {
                remaining--;
            } else {
                g.skips.merge(j.jobId(), 1, Integer::sum);
                passed = true;
            }
        }
        return passed;
    }

    /** First fit over {@code order} within the limits; always contains the head if it fits at all. */
    static List<QueuedJob> fit(List<QueuedJob> order, int maxTokens, int maxSeqs) {
        List<QueuedJob> out = new ArrayList<>();
        long tokens = 0;
        int scanned = 0;
        int scanLimit = 2 * maxSeqs;
        for (QueuedJob j : order) {
            if (out.size() >= maxSeqs || scanned++ >= scanLimit || tokens >= maxTokens) {
                break;
            }
            if (tokens + j.promptTokens() <= maxTokens) {
                out.add(j);
                tokens += j.promptTokens();
            }
        }
        return out;
    }
}
