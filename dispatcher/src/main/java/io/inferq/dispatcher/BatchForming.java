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
    /** Deadline-aware batch sizing ({@link DeadlineFit}); on by default. */
    boolean deadlineSizing = true;

    /**
     * Deadline-aware batch sizing for one pool in one decision. A continuous-batching engine prefills the prompts of one
     * priority in submission order, chunk by chunk, beside its decoding sequences; a batch's sequences are submitted in
     * batch order. So the <em>k</em>-th job of a batch sent now gets its first token after about
     * <pre>
     *   wait + boundary + step + stretch × prefill(uncached prompt tokens of jobs 1..k)
     * </pre>
     * where {@code wait} is the prefill still owed to earlier batches on the instance the batch would go to
     * ({@link PoolLedger#prefillWaitSeconds}, the instance's prefill clock), {@code boundary} one iteration
     * ({@code chunk} + {@code step}) when that instance is busy (the batch joins at the next iteration
     * boundary), {@code prefill} the pool's prefill time ({@link #prefillSeconds}: the larger of its configured and
     * calibrated figures), {@code step} one decode
     * step of the sequences in flight on an instance of the pool (per instance: in-flight sequences and their prompt +
     * output budget tokens, divided by the instances) and {@code stretch = 1 + step ÷ chunk}, with {@code chunk} the
     * pool's prefill chunk ({@link ServiceTimeModel#prefillChunkSeconds}; each prefill chunk shares its iteration with
     * that decode step). A job whose predicted first token falls after its
     * deadline is left out (it stays queued for another pool or batch, or expires at its deadline without taking any
     * engine time); adding a job never delays the jobs already in the batch, which are prefilled before it. Jobs without
     * a deadline always fit. Not thread-safe: used within one decision on the scheduler's thread.
     */
    static final class DeadlineFit {
        private final PoolLedger pool;
        private final long nowMs;
        private final double startSeconds;
        private final double stretch;
        private long uncached;

        DeadlineFit(PoolLedger pool, long nowMs) {
            this.pool = pool;
            this.nowMs = nowMs;
            double step = decodeStepSeconds(pool);
            double chunk = pool.profile.timeModel().prefillChunkSeconds();
            this.stretch = 1 + step / chunk;
            int instance = pool.plannedInstance(nowMs);
            // a busy engine admits the batch at its next iteration boundary: up to one iteration (a chunk and a step)
            double boundary = pool.busy(instance, nowMs) ? chunk + step : 0;
            // the first token comes with the iteration that completes the prompt, which also runs a decode step
            this.startSeconds = pool.prefillWaitSeconds(instance, nowMs) + boundary + step;
        }

        /**
         * The pool's prefill time for {@code tokens} as its first tokens show it: the configured (roofline) figure
         * times the larger of 1 and the pool's observed prefill latency scale
         * ({@link CalibratedServiceTime#prefillLatencyScale}, learned from the first-token times of the batches it ran)
         * once it has observed any: on the default fleet that scale is 0.88–0.96, and the roofline's margin was measured
         * to be worth more goodput than the closer figure. Before that (or from a backend that reports no first-token
         * time) the larger of its configured and its calibrated figure: calibration fits whole-batch run times, which
         * on a continuous-batching engine overlap other batches, so it can make a pool look faster than it prefills; a
         * first token predicted too early costs the job, one predicted too late only lets another pool or batch take it.
         */
        static double prefillSeconds(PoolLedger pool, long tokens) {
            int t = (int) Math.min(Integer.MAX_VALUE, Math.max(0, tokens));
            double configured = pool.profile.timeModel().prefillSeconds(t);
            return Math.max(configured, pool.model.prefillObservations() > 0
                    ? pool.model.prefillLatencyScale() * configured : pool.model.prefillSeconds(t));
        }

        /** One decode step of the sequences in flight on one instance of the pool, seconds (0 when none). */
        static double decodeStepSeconds(PoolLedger pool) {
            int instances = pool.profile.instances();
            int seqs = (pool.inFlightSequences() + instances - 1) / instances;
            if (seqs == 0) {
                return 0;
            }
            long context = pool.inFlightWorkTokens() / instances;
            // two output tokens = one decode step over the context; the larger of the configured and calibrated figures
            return Math.max(0, Math.max(pool.profile.timeModel().decodeSeconds(seqs, 2, context),
                    pool.model.decodeSeconds(seqs, 2, context)));
        }

        /** Seconds to prefill {@code uncachedTokens} on this pool beside its in-flight decoding. */
        static double stretchedPrefillSeconds(PoolLedger pool, long uncachedTokens) {
            return stretch(pool) * prefillSeconds(pool, uncachedTokens);
        }

        /**
         * {@code 1 + step ÷ chunk}: how much the decode steps in flight, sharing each prefill chunk's iteration, slow a
         * prefill.
         */
        static double stretch(PoolLedger pool) {
            return 1 + decodeStepSeconds(pool) / pool.profile.timeModel().prefillChunkSeconds();
        }

        /**
         * Whether {@code job}, with {@code uncachedTokens} of its prompt to prefill on this pool, gets its first token
         * by its deadline as the next job of the batch; if so it is counted in (later jobs are prefilled after it).
         */
        boolean admit(QueuedJob job, long uncachedTokens) {
            long total = uncached + Math.max(0, uncachedTokens);
            if (job.deadlineAtMs() != null) {
                double firstToken = startSeconds + stretch * prefillSeconds(pool, total);
                if (nowMs + firstToken * 1000.0 > job.deadlineAtMs()) {
                    return false;
                }
            }
            uncached = total;
            return true;
        }
    }

    /**
     * Whether {@code head}, held now for {@code pool} (which has no free credit), would get its first token after its
     * deadline there: it cannot start before the pool's work ahead ({@code aheadSeconds}, its least-backlogged
     * instance's backlog) is done, and then needs its own prefill beside the pool's decoding
     * ({@link DeadlineFit#stretchedPrefillSeconds}). A job without a deadline never misses. Holding a group for such a
     * pool only runs its head out of time while a pool with a free credit could still start it in time.
     */
    boolean missesIfHeld(PoolLedger pool, double aheadSeconds, QueuedJob head, long cachedTokens, long nowMs) {
        if (head.deadlineAtMs() == null) {
            return false;
        }
        double prefill = DeadlineFit.stretchedPrefillSeconds(pool, uncachedTokens(head, cachedTokens));
        return nowMs + (Math.max(0, aheadSeconds) + prefill) * 1000.0 > head.deadlineAtMs();
    }

    /** The deadline rule for a batch of {@code pool} formed now, or null when deadline-aware sizing is off. */
    DeadlineFit deadlineFit(PoolLedger pool, long nowMs) {
        return deadlineSizing ? new DeadlineFit(pool, nowMs) : null;
    }

    /** Prompt tokens of {@code job} the pool prefills (its cached leading blocks there, weighted, are not). */
    long uncachedTokens(QueuedJob job, long cachedTokens) {
        return Math.max(0, job.promptTokens() - Math.round(config.prefixOverlapWeight() * cachedTokens));
    }

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
                DeadlineFit fit = deadlineFit(p, nowMs);
                java.util.function.IntPredicate inTime = fit == null ? i -> true
                        : i -> fit.admit(window.get(i), uncachedTokens(window.get(i), here[i]));
                for (int i : take(window, order, p.profile.maxBatchTokens(), p.profile.maxConcurrentSequences(), inTime)) {
                    jobs.add(window.get(i));
                }
                if (fit != null) {
                    // taken in ranking order, sent in queue order: check each job again where it really is in the batch
                    DeadlineFit sent = deadlineFit(p, nowMs);
                    Map<QueuedJob, Long> cachedHere = new java.util.IdentityHashMap<>();
                    for (int i = 0; i < n; i++) {
                        cachedHere.put(window.get(i), here[i]);
                    }
                    jobs.removeIf(j -> !sent.admit(j, uncachedTokens(j, cachedHere.getOrDefault(j, 0L))));
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
        return take(window, order, maxTokens, maxSeqs, i -> true);
    }

    /**
     * As {@link #take(List, List, int, int)}, taking only indices {@code inTime} accepts (asked in ranking order, only for
     * jobs that fit the limits; see {@link DeadlineFit}). A job left out by {@code inTime} does not count against the
     * look-ahead, so late jobs at the front of the queue do not shrink the batch; the head is then not taken either.
     */
    static List<Integer> take(List<QueuedJob> window, List<Integer> order, int maxTokens, int maxSeqs,
                              java.util.function.IntPredicate inTime) {
        List<Integer> out = new ArrayList<>();
        long tokens = 0;
        int scanned = 0;
        int scanLimit = 2 * maxSeqs;
        for (int i : order) {
            if (out.size() >= maxSeqs || scanned >= scanLimit || tokens >= maxTokens) {
                break;
            }
            int prompt = window.get(i).promptTokens();
            if (tokens + prompt <= maxTokens) {
                if (!inTime.test(i)) {
                    continue;
                }
                out.add(i);
                tokens += prompt;
            }
            scanned++;
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
        return fit(order, maxTokens, maxSeqs, j -> true);
    }

    /**
     * As {@link #fit(List, int, int)}, taking only jobs {@code inTime} accepts (asked in order, only for jobs that fit
     * the limits; see {@link DeadlineFit}); a job it leaves out does not count against the look-ahead.
     */
    static List<QueuedJob> fit(List<QueuedJob> order, int maxTokens, int maxSeqs,
                               java.util.function.Predicate<QueuedJob> inTime) {
        List<QueuedJob> out = new ArrayList<>();
        long tokens = 0;
        int scanned = 0;
        int scanLimit = 2 * maxSeqs;
        for (QueuedJob j : order) {
            if (out.size() >= maxSeqs || scanned >= scanLimit || tokens >= maxTokens) {
                break;
            }
            if (tokens + j.promptTokens() <= maxTokens) {
                if (!inTime.test(j)) {
                    continue;
                }
                out.add(j);
                tokens += j.promptTokens();
            }
            scanned++;
        }
        return out;
    }
}
