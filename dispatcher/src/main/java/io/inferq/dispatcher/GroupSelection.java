package io.inferq.dispatcher;

import io.inferq.dispatcher.BucketQueue.Entry;
import io.inferq.dispatcher.BucketQueue.GroupKey;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.inferq.job.JobLane;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static io.inferq.dispatcher.BucketQueue.TENANT_ORDER;
import static io.inferq.dispatcher.BucketQueue.URGENCY_ORDER;

/**
 * Which group of the {@link DispatchScheduler}'s queue is served next and in which order a batch takes its jobs:
 * readiness (full or waited its lane's max wait), batch-lane promotion, and with fair sharing the tenant with the lowest
 * virtual token counter (see the scheduler's "Lanes and anti-starvation" and "Fair sharing between tenants"). Not
 * thread-safe: confined to the scheduler's thread.
 */
final class GroupSelection {

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final Map<String, ModelState> models;
    private final TreeMap<GroupKey, BucketQueue> groups;
    /** Whether a group is ready at once besides the rules of {@link #ready} (the scheduler's fair credits); none by default. */
    java.util.function.Predicate<BucketQueue> sendAtOnce = g -> false;

    GroupSelection(DispatchConfig config, FairnessConfig fairness, Map<String, ModelState> models, QueuedJobs queue) {
        this.config = config;
        this.fairness = fairness;
        this.models = models;
        this.groups = queue.groups;
    }

    BucketQueue nextReadyGroup(long nowMs, Set<BucketQueue> held) {
        BucketQueue best = null;
        boolean bestUrgent = false;
        long bestAge = 0;
        List<BucketQueue> readyGroups = new ArrayList<>();
        for (BucketQueue g : groups.values()) {
            if (held.contains(g) || !ready(g, nowMs)) {
                continue;
            }
            readyGroups.add(g);
            long enq = g.head().enqueuedAtMs();
            boolean urgent = urgent(g, nowMs);
            if (best == null || (urgent && !bestUrgent) || (urgent == bestUrgent && enq < bestAge)) {
                best = g;
                bestUrgent = urgent;
                bestAge = enq;
            }
        }
        if (best == null || !fairness.enabled()) {
            return best;
        }
        // the lane and model are chosen; within them (and the same urgency) the lowest counter decides
        VirtualTokenCounter vtc = models.get(best.key.model()).fair[best.key.lane().ordinal()];
        BucketQueue chosen = null;
        double chosenCounter = 0;
        Entry chosenEntry = null;
        for (BucketQueue g : readyGroups) {
            if (g.key.lane() != best.key.lane() || !g.key.model().equals(best.key.model())
                    || urgent(g, nowMs) != bestUrgent) {
                continue;
            }
            for (Map.Entry<String, TreeSet<Entry>> e : g.byTenant.entrySet()) {
                double c = vtc.counter(e.getKey());
                Entry first = e.getValue().first();
                // ties: earlier deadline, then older job, then the group's order (as without fair sharing)
                if (chosen == null || c < chosenCounter
                        || (c == chosenCounter && URGENCY_ORDER.compare(first, chosenEntry) < 0)) {
                    chosen = g;
                    chosenCounter = c;
                    chosenEntry = first;
                }
            }
        }
        return chosen == null ? best : chosen;
    }

    /**
     * Up to {@code limit} jobs of {@code g} in the order a batch takes them: enqueue order, or with fair sharing the
     * fair order — repeatedly the next job (earliest deadline, then age) of the group's tenant whose counter plus the
     * charge of its jobs already placed (at full prompt: the pool is not chosen yet) is lowest.
     */
    List<QueuedJob> serviceOrder(BucketQueue g, int limit) {
        return serviceOrder(g, limit, null);
    }

    /** As {@link #serviceOrder(BucketQueue, int)}, without the jobs of {@code excluded} tenants (null: none). */
    List<QueuedJob> serviceOrder(BucketQueue g, int limit, Set<String> excluded) {
        List<QueuedJob> out = new ArrayList<>(Math.min(limit, g.jobs.size()));
        if (!fairness.enabled()) {
            for (QueuedJob j : g.jobs.values()) {
                if (out.size() >= limit) {
                    break;
                }
                out.add(j);
            }
            return out;
        }
        VirtualTokenCounter vtc = models.get(g.key.model()).fair[g.key.lane().ordinal()];
        record Cursor(String tenant, Entry next, Iterator<Entry> rest, double counter) {
        }
        PriorityQueue<Cursor> cursors = new PriorityQueue<>((a, b) -> a.counter() != b.counter()
                ? Double.compare(a.counter(), b.counter()) : TENANT_ORDER.compare(a.next(), b.next()));
        for (Map.Entry<String, TreeSet<Entry>> e : g.byTenant.entrySet()) {
            if (excluded != null && excluded.contains(e.getKey())) {
                continue;
            }
            Iterator<Entry> it = e.getValue().iterator();
            cursors.add(new Cursor(e.getKey(), it.next(), it, vtc.counter(e.getKey())));
        }
        while (out.size() < limit && !cursors.isEmpty()) {
            Cursor c = cursors.poll();
            QueuedJob j = c.next().job();
            out.add(j);
            if (c.rest().hasNext()) {
                cursors.add(new Cursor(c.tenant(), c.rest().next(), c.rest(),
                        c.counter() + vtc.counterIncrement(c.tenant(), j.promptTokens(), j.maxTokens())));
            }
        }
        return out;
    }

    /** Interactive, or batch-lane promoted by age: served before the (unpromoted) batch lane. */
    boolean urgent(BucketQueue g, long nowMs) {
        return g.key.lane() == JobLane.INTERACTIVE || nowMs >= promotedAtMs(g);
    }

    /**
     * When a batch-lane group is promoted: once its oldest job has waited the promotion time and, with headroom, its
     * bucket has had no batch dispatched for as long — a lane that is being served (a large batch working through its
     * backlog) is not starving, and promoting it would take the headroom kept for interactive work.
     */
    long promotedAtMs(BucketQueue g) {
        long at = g.head().enqueuedAtMs() + config.batchPromotionAfterMs();
        if (config.headroomCredits() > 0) {
            Long last = models.get(g.key.model()).batchDispatchedMs.get(g.key.bucket());
            if (last != null) {
                at = Math.max(at, last + config.batchPromotionAfterMs());
            }
        }
        return at;
    }

    boolean ready(BucketQueue g, long nowMs) {
        ModelState m = models.get(g.key.model());
        return nowMs - g.head().enqueuedAtMs() >= maxWait(g.key.lane())
                || g.promptTokens >= m.minBatchTokens || g.jobs.size() >= m.minSequences
                || (config.dispatchToIdleInstances() && g.key.lane() == JobLane.INTERACTIVE && idlePoolFits(m, g.head()))
                || sendAtOnce.test(g);
    }

    /** Whether a pool of the model that fits {@code head} has a free credit and an idle instance. */
    static boolean idlePoolFits(ModelState m, QueuedJob head) {
        for (PoolLedger p : m.pools) {
            if (p.profile.maxBatchTokens() >= head.promptTokens() && p.freeCredits() > 0 && p.hasIdleInstance()) {
                return true;
            }
        }
        return false;
    }

    long maxWait(JobLane lane) {
        return lane == JobLane.INTERACTIVE ? config.interactiveMaxWaitMs() : config.batchMaxWaitMs();
    }
}
