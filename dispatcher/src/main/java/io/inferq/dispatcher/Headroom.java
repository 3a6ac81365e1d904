package io.inferq.dispatcher;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.InFlightWork;
import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@link DispatchScheduler}'s headroom: the credits each pool keeps for work below its share, which group may take
 * them, the credits each tenant holds, and when a reservation lapses (see the scheduler's "Headroom"); and the fair
 * credits each pool has on top of its batch credits for interactive work of tenants below their share of the in-flight
 * work (see the scheduler's "Fair credits"). Not thread-safe: confined to the scheduler's thread.
 */
final class Headroom {

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final Map<String, ModelState> models;
    private final GroupSelection selection;
    private final DispatchMetrics metrics;
    /** Headroom: the tenant each in-flight batch counts for, by batch id. */
    final Map<String, String> batchTenant = new HashMap<>();
    /** Headroom: a decision held work back; the earliest time a reservation lapses after it (or MAX_VALUE). */
    long headroomLapseMs = Long.MAX_VALUE;
    /** Headroom: whether the group being decided may not take the pools' reserved credits. */
    boolean restricted;
    /** Fair credits: whether the batch being decided goes on a pool's fair credits (and only on them). */
    boolean onFairCredits;
    /** Fair credits: the interactive work each tenant has in flight (kept by the scheduler's engine priorities). */
    private final InFlightWork interactiveWork;
    /** Fair credits: whether pools have them (fair sharing and fair credits on). */
    private final boolean fairCredits;
    /** Fair credits: in-flight batches on a fair credit, per pool. */
    private final Map<String, Integer> fairInFlight = new HashMap<>();
    /** Fair credits: in-flight batch on a fair credit → its pool. */
    private final Map<String, String> fairBatchPool = new HashMap<>();

    Headroom(DispatchConfig config, FairnessConfig fairness, Map<String, ModelState> models, GroupSelection selection,
             DispatchMetrics metrics, InFlightWork interactiveWork) {
        this.config = config;
        this.fairness = fairness;
        this.models = models;
        this.selection = selection;
        this.metrics = metrics;
        this.interactiveWork = interactiveWork;
        this.fairCredits = fairness.enabled() && fairness.fairCredits();
    }

    /** Starts a decision: notes interactive work still queued and whether each model's reserve is kept. */
    void startDecision(long nowMs) {
        headroomLapseMs = Long.MAX_VALUE;
        for (ModelState m : models.values()) {
            if (m.queuedWork[JobLane.INTERACTIVE.ordinal()] > 0) {
                m.interactiveSeenMs = Math.max(m.interactiveSeenMs, nowMs);
            }
            m.headroomInForce = config.headroomCredits() > 0
                    && (interactiveRecent(m, nowMs) || activeWeights(m, nowMs).size() > 1);
        }
    }

    /**
     * Credits of {@code p} the group being decided may take: on fair credits the pool's free fair credits; otherwise its
     * free batch credits (not counting batches on fair credits), all of them or those above the reserve.
     */
    int usableCredits(PoolLedger p) {
        if (onFairCredits) {
            return fairFree(p);
        }
        int free = p.gateRefused ? 0
                : Math.max(0, p.totalCredits() - (p.inFlightBatches() - fairInFlight.getOrDefault(p.profile.poolId(), 0)));
        if (!restricted) {
            return free;
        }
        int idleReserve = config.headroomIdleInstances();
        if (idleReserve > 0 && p.hasIdleInstance() && idleInstances(p.profile.model())
                <= Math.min(idleReserve, models.get(p.profile.model()).instances - 1)) {
            return 0;
        }
        return Math.max(0, free - reserve(p));
    }

    int idleInstances(String model) {
        int n = 0;
        for (PoolLedger q : models.get(model).pools) {
            n += q.idleInstances();
        }
        return n;
    }

    /** The pool's reserve: {@code min(headroomCredits, credits − 1)}, so any work can always use one credit. */
    int reserve(PoolLedger p) {
        return Math.min(config.headroomCredits(), Math.max(0, p.totalCredits() - 1));
    }

    boolean interactiveRecent(ModelState m, long nowMs) {
        return m.interactiveSeenMs != Long.MIN_VALUE && nowMs - m.interactiveSeenMs < config.headroomWindowMs();
    }

    /**
     * Whether group {@code g} may not take the reserved credits: a batch-lane group not promoted while interactive work
     * for its model was seen within the window; or, with fair sharing, a group whose next tenant (fair-order head)
     * already holds at least its weighted share of the model's credits among the active tenants.
     */
    boolean headroomRestricted(BucketQueue g, ModelState m, long nowMs) {
        if (config.headroomCredits() == 0) {
            return false;
        }
        if (laneRestricted(g, m, nowMs)) {
            return true;
        }
        if (!fairness.enabled()) {
            return false;
        }
        Map<String, Double> active = activeWeights(m, nowMs);
        return active.size() >= 2 // alone, a tenant owns its whole share: no reservation cost
                && atShare(selection.serviceOrder(g, 1).get(0).tenant(), m, active);
    }

    /** A batch-lane group, not promoted, while interactive work for its model was seen within the window. */
    boolean laneRestricted(BucketQueue g, ModelState m, long nowMs) {
        return g.key.lane() == JobLane.BATCH && !selection.urgent(g, nowMs) && interactiveRecent(m, nowMs);
    }

    /** Whether {@code tenant} holds at least its weighted share of the model's credits among {@code active}. */
    boolean atShare(String tenant, ModelState m, Map<String, Double> active) {
        double sum = 0;
        for (double w : active.values()) {
            sum += w;
        }
        int credits = 0;
        for (PoolLedger p : m.pools) {
            credits += p.totalCredits();
        }
        double share = credits * active.getOrDefault(tenant, fairness.weightOf(tenant)) / sum;
        return m.tenantInFlight.getOrDefault(tenant, 0) >= share;
    }

    /** The tenants of {@code g} (fair sharing) that hold at least their share of the model's credits. */
    Set<String> overShareTenants(BucketQueue g, ModelState m, long nowMs) {
        Map<String, Double> active = activeWeights(m, nowMs);
        Set<String> over = new HashSet<>();
        for (String t : g.byTenant.keySet()) {
            if (atShare(t, m, active)) {
                over.add(t);
            }
        }
        return over;
    }

    /**
     * The tenants active on model {@code m} with their weights: seen within the headroom window, holding credits or
     * backlogged. Forgets tenants that are none of these.
     */
    Map<String, Double> activeWeights(ModelState m, long nowMs) {
        Map<String, Double> out = new HashMap<>();
        for (Iterator<Map.Entry<String, Long>> it = m.tenantSeenMs.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Long> e = it.next();
            String t = e.getKey();
            boolean active = nowMs - e.getValue() < config.headroomWindowMs() || m.tenantInFlight.containsKey(t)
                    || m.fair[0].backlog(t) > 0 || m.fair[1].backlog(t) > 0;
            if (active) {
                out.put(t, fairness.weightOf(t));
            } else {
                it.remove();
            }
        }
        return out;
    }

    /** A group was held back only by the reserve: counts it and wakes when the reservation may lapse. */
    void heldByHeadroom(ModelState m, long nowMs) {
        metrics.heldByHeadroom();
        long lapse = Long.MAX_VALUE;
        if (interactiveRecent(m, nowMs)) {
            lapse = m.interactiveSeenMs + config.headroomWindowMs();
        }
        for (long seen : m.tenantSeenMs.values()) {
            long end = seen + config.headroomWindowMs();
            if (end > nowMs) {
                lapse = Math.min(lapse, end);
            }
        }
        if (lapse > nowMs) {
            headroomLapseMs = Math.min(headroomLapseMs, lapse);
        }
    }

    /**
     * Free credits of the pool that, at the last decision, only work below its share could take (0 when no
     * interactive work was recent and fewer than two tenants were active).
     */
    int reservedCredits(PoolLedger p) {
        return models.get(p.profile.model()).headroomInForce ? Math.min(reserve(p), p.freeCredits()) : 0;
    }

    /** A batch of group {@code g} was dispatched: it holds a credit for the tenant with most tokens in it. */
    void batchDispatched(String batchId, BucketQueue g, List<QueuedJob> jobs, long nowMs) {
        ModelState m = models.get(g.key.model());
        if (g.key.lane() == JobLane.BATCH) {
            m.batchDispatchedMs.put(g.key.bucket(), nowMs);
        }
        for (QueuedJob j : jobs) {
            m.tenantSeenMs.merge(j.tenant(), nowMs, Math::max);
        }
        String main = QueuedJob.mainTenant(jobs);
        if (main != null) {
            batchTenant.put(batchId, g.key.model() + "\u0000" + main);
            m.tenantInFlight.merge(main, 1, Integer::sum);
        }
    }

    /**
     * Free fair credits of {@code p}: {@code instances × maxConcurrentSequences} less the batches on them (none without
     * fair credits). A batch holds at least one sequence and an instance runs at most its sequence cap at once, so more
     * streams than that per instance would only wait inside the engine.
     */
    int fairFree(PoolLedger p) {
        if (!fairCredits || p.gateRefused) {
            return 0;
        }
        long cap = (long) p.profile.instances() * p.profile.maxConcurrentSequences();
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, cap - fairInFlight.getOrDefault(p.profile.poolId(), 0)));
    }

    /**
     * The tenants of interactive group {@code g} that may use fair credits now: those whose next job (in their own
     * order) keeps them below their weighted share of the model's in-flight interactive work
     * ({@link InFlightWork#belowShare}) and fits a pool with a free fair credit; empty without fair credits or for the
     * batch lane. Cost: O(tenants of g × (tenants in flight + pools)).
     */
    Set<String> fairCreditTenants(BucketQueue g, ModelState m) {
        if (!fairCredits || g.key.lane() != JobLane.INTERACTIVE) {
            return Set.of();
        }
        int largestFree = 0; // the largest prompt budget among pools with a free fair credit
        for (PoolLedger p : m.pools) {
            if (fairFree(p) > 0) {
                largestFree = Math.max(largestFree, p.profile.maxBatchTokens());
            }
        }
        if (largestFree == 0) {
            return Set.of();
        }
        Set<String> below = new HashSet<>();
        for (Map.Entry<String, java.util.TreeSet<BucketQueue.Entry>> e : g.byTenant.entrySet()) {
            QueuedJob next = e.getValue().first().job();
            if (next.promptTokens() <= largestFree && interactiveWork.belowShare(m.model, e.getKey(), next.quotaTokens())) {
                below.add(e.getKey());
            }
        }
        return below;
    }

    /**
     * Whether interactive group {@code g} holds work a tenant below its share may send now on a fair credit of a pool
     * that fits it: such work is ready at once, as work for an idle instance is ({@link GroupSelection#ready}).
     */
    boolean sendsOnFairCredit(BucketQueue g) {
        return fairCredits && g.key.lane() == JobLane.INTERACTIVE
                && !fairCreditTenants(g, models.get(g.key.model())).isEmpty();
    }

    /**
     * Whether interactive group {@code g} may send now on a credit the reserve keeps for it: a pool that fits its head
     * has a reserved free credit at the last decision ({@link #reservedCredits}). Such work is ready at once, as work
     * for an idle instance is ({@link GroupSelection#ready}): the batch lane may not take that credit, so holding the
     * job for the interactive max wait to fill a fuller batch only adds the wait to its first token (on a
     * continuous-batching engine the batch joins the running ones at the next iteration either way).
     */
    boolean sendsOnReserve(BucketQueue g) {
        if (g.key.lane() != JobLane.INTERACTIVE) {
            return false;
        }
        ModelState m = models.get(g.key.model());
        if (!m.headroomInForce) {
            return false;
        }
        for (PoolLedger p : m.pools) {
            if (p.profile.maxBatchTokens() >= g.head().promptTokens() && reservedCredits(p) > 0) {
                return true;
            }
        }
        return false;
    }

    /** A batch was sent on one of {@code poolId}'s fair credits. */
    void fairCreditTaken(String batchId, String poolId) {
        fairBatchPool.put(batchId, poolId);
        fairInFlight.merge(poolId, 1, Integer::sum);
    }

    /** A batch finished: its tenant's credit is free again. */
    void batchFinished(String batchId) {
        String fairPool = fairBatchPool.remove(batchId);
        if (fairPool != null) {
            fairInFlight.computeIfPresent(fairPool, (k, n) -> n <= 1 ? null : n - 1);
        }
        String modelTenant = batchTenant.remove(batchId);
        if (modelTenant != null) {
            int cut = modelTenant.indexOf('\u0000');
            ModelState m = models.get(modelTenant.substring(0, cut));
            m.tenantInFlight.computeIfPresent(modelTenant.substring(cut + 1), (t, n) -> n <= 1 ? null : n - 1);
        }
    }
}
