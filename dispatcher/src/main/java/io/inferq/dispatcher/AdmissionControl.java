package io.inferq.dispatcher;

import io.inferq.dispatcher.BucketQueue.Entry;
import io.inferq.dispatcher.BucketQueue.GroupKey;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.inferq.job.JobLane;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeMap;
import java.util.TreeSet;

import static io.inferq.dispatcher.BucketQueue.TENANT_ORDER;

/**
 * Admission and expiry of the {@link DispatchScheduler}: the queue bound, the tenant quota, and a job's predicted
 * wait (the work served before it, over its model's fleet throughput) against its deadline, at admission and for the
 * jobs already queued. See the scheduler's "Predicted wait". Not thread-safe: confined to the scheduler's thread.
 */
final class AdmissionControl {

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final Map<String, ModelState> models;
    private final QueuedJobs queue;
    private final TreeMap<GroupKey, BucketQueue> groups;
    private final LinkedHashMap<String, BucketQueue> groupOfJob;
    private final Map<String, Long> tenantTokens;
    private final TreeMap<Long, Integer> deadlines;
    private final DispatchMetrics metrics;

    AdmissionControl(DispatchConfig config, FairnessConfig fairness, Map<String, ModelState> models, QueuedJobs queue,
                     DispatchMetrics metrics) {
        this.config = config;
        this.fairness = fairness;
        this.models = models;
        this.queue = queue;
        this.groups = queue.groups;
        this.groupOfJob = queue.groupOfJob;
        this.tenantTokens = queue.tenantTokens;
        this.deadlines = queue.deadlines;
        this.metrics = metrics;
    }

    Admission check(QueuedJob job, long nowMs) {
        if (queue.queuedJobs() >= config.maxQueuedJobs()) {
            return new Admission.Rejected(Admission.CODE_QUEUE_FULL,
                    "the dispatcher queue holds maxQueuedJobs=" + config.maxQueuedJobs() + " jobs",
                    Math.max(1, config.batchMaxWaitMs()));
        }
        ModelState m = models.get(job.model());
        if (m == null) {
            return new Admission.Rejected(Admission.CODE_MODEL_NOT_SERVED,
                    "no pool serves model " + job.model(), 0);
        }
        if (job.promptTokens() > m.maxBatchTokens) {
            return new Admission.Rejected(Admission.CODE_PROMPT_TOO_LONG, "prompt of " + job.promptTokens()
                    + " tokens exceeds the largest maxBatchTokens (" + m.maxBatchTokens + ") of the pools serving "
                    + job.model(), 0);
        }
        long quota = config.quotaOf(job.tenant());
        long used = tenantTokens.getOrDefault(job.tenant(), 0L);
        if (used + job.quotaTokens() > quota) {
            long excess = used + job.quotaTokens() - quota;
            return new Admission.Rejected(Admission.CODE_TENANT_QUOTA, "tenant " + job.tenant() + " has " + used
                    + " queued tokens; this job's " + job.quotaTokens() + " would exceed its quota of " + quota
                    + " (tenantQueuedTokens)", Math.max(1, drainMs(m, excess)));
        }
        if (job.deadlineAtMs() != null) {
            long ahead = fairness.enabled() ? fairWorkAhead(m, job)
                    : m.queuedWork[JobLane.INTERACTIVE.ordinal()]
                    + (job.lane() == JobLane.BATCH ? m.queuedWork[JobLane.BATCH.ordinal()] : 0);
            long predictedStart = nowMs + drainMs(m, ahead);
            if (predictedStart > job.deadlineAtMs()) {
                return new Admission.Rejected(Admission.CODE_DEADLINE, "predicted wait of "
                        + (predictedStart - nowMs) + " ms ends after the deadline in "
                        + (job.deadlineAtMs() - nowMs) + " ms", Math.max(1, predictedStart - job.deadlineAtMs()));
            }
        }
        return Admission.ACCEPTED;
    }

    /**
     * Work served before a new {@code job} starts under fair sharing: its tenant's fair share of its lane's queue up to
     * and including the job, less the job itself; for a batch-lane job plus all queued interactive work.
     */
    long fairWorkAhead(ModelState m, QueuedJob job) {
        VirtualTokenCounter vtc = m.fair[job.lane().ordinal()];
        long own = vtc.queuedWork(job.tenant()) + job.quotaTokens();
        long ahead = Math.max(0, Math.round(vtc.fairWorkAhead(job.tenant(), own)) - job.quotaTokens());
        return ahead + (job.lane() == JobLane.BATCH ? m.queuedWork[JobLane.INTERACTIVE.ordinal()] : 0);
    }

    /**
     * Removes and returns the queued jobs that should end as {@code expired}: those whose deadline has passed
     * and, if {@link DispatchConfig#expireOnPredictedMiss()}, those whose predicted dispatch time is after their
     * deadline. Cost: O(models) when no deadline can be due yet — the earliest deadline lies beyond the time the
     * fleet needs to drain all queued work of every model (no job's predicted wait is longer than that), which is
     * the usual case with a long queue of far deadlines such as a batch's completion window; otherwise O(queued
     * jobs).
     */
    public List<QueuedJob> expireDue(long nowMs) {
        if (queue.queuedWithDeadline == 0 || deadlines.firstKey() > latestPredictedStartMs(nowMs)) {
            return List.of();
        }
        List<QueuedJob> expired = fairness.enabled() ? fairlyDue(nowMs) : new ArrayList<>();
        Map<String, Long> aheadByModel = new HashMap<>();
        // the order admission assumes: interactive before batch, each in enqueue order (groupOfJob's order)
        for (JobLane lane : fairness.enabled() ? List.<JobLane>of() : List.of(JobLane.INTERACTIVE, JobLane.BATCH)) {
            for (Map.Entry<String, BucketQueue> e : groupOfJob.entrySet()) {
                if (e.getValue().key.lane() != lane) {
                    continue;
                }
                QueuedJob j = e.getValue().jobs.get(e.getKey());
                ModelState m = models.get(j.model());
                long ahead = aheadByModel.getOrDefault(j.model(), 0L);
                Long deadline = j.deadlineAtMs();
                boolean due = deadline != null && (deadline <= nowMs
                        || (config.expireOnPredictedMiss() && nowMs + drainMs(m, ahead) > deadline));
                if (due) {
                    expired.add(j);
                } else {
                    aheadByModel.put(j.model(), ahead + j.quotaTokens());
                }
            }
        }
        for (QueuedJob j : expired) {
            queue.remove(j.jobId());
            metrics.expired(j.lane());
        }
        return expired;
    }

    /**
     * {@link #expireDue} under fair sharing: each tenant's jobs of a (model, lane) in its own order (earliest deadline
     * first, then age; merged over the length buckets), each predicted to start after its tenant's fair share of the
     * lane's queue up to it (a snapshot of the backlog, {@link VirtualTokenCounter#snapshot()}), plus, in the batch
     * lane, all queued interactive work. Cost: O(queued jobs × log buckets + tenants × log tenants).
     */
    List<QueuedJob> fairlyDue(long nowMs) {
        List<QueuedJob> due = new ArrayList<>();
        record TenantOfDomain(String model, JobLane lane, String tenant) {
        }
        Map<TenantOfDomain, List<TreeSet<Entry>>> queues = new LinkedHashMap<>(); // its per-bucket queues
        for (BucketQueue g : groups.values()) {
            g.byTenant.forEach((tenant, own) -> queues.computeIfAbsent(
                    new TenantOfDomain(g.key.model(), g.key.lane(), tenant), k -> new ArrayList<>()).add(own));
        }
        Map<VirtualTokenCounter, VirtualTokenCounter.FairWork> snapshots = new IdentityHashMap<>();
        for (Map.Entry<TenantOfDomain, List<TreeSet<Entry>>> e : queues.entrySet()) {
            ModelState m = models.get(e.getKey().model());
            JobLane lane = e.getKey().lane();
            String tenant = e.getKey().tenant();
            VirtualTokenCounter.FairWork share = snapshots.computeIfAbsent(m.fair[lane.ordinal()],
                    VirtualTokenCounter::snapshot);
            long interactive = lane == JobLane.BATCH ? m.queuedWork[JobLane.INTERACTIVE.ordinal()] : 0;
            long own = 0;
            for (Iterator<Entry> it = merged(e.getValue()); it.hasNext(); ) {
                QueuedJob j = it.next().job();
                Long deadline = j.deadlineAtMs();
                boolean isDue = false;
                if (deadline != null) {
                    long ahead = interactive + Math.max(0, Math.round(share.ahead(tenant, own + j.quotaTokens()))
                            - j.quotaTokens());
                    isDue = deadline <= nowMs || (config.expireOnPredictedMiss() && nowMs + drainMs(m, ahead) > deadline);
                }
                if (isDue) {
                    due.add(j);
                } else {
                    own += j.quotaTokens();
                }
            }
        }
        return due;
    }

    /** The entries of several queues of one tenant in {@link BucketQueue#TENANT_ORDER} (a k-way merge). */
    static Iterator<Entry> merged(List<TreeSet<Entry>> queues) {
        if (queues.size() == 1) {
            return queues.get(0).iterator();
        }
        record Head(Entry entry, Iterator<Entry> rest) {
        }
        PriorityQueue<Head> heads = new PriorityQueue<>((a, b) -> TENANT_ORDER.compare(a.entry(), b.entry()));
        for (TreeSet<Entry> q : queues) {
            Iterator<Entry> it = q.iterator();
            heads.add(new Head(it.next(), it));
        }
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return !heads.isEmpty();
            }

            @Override
            public Entry next() {
                Head h = heads.poll();
                if (h == null) {
                    throw new java.util.NoSuchElementException();
                }
                if (h.rest().hasNext()) {
                    heads.add(new Head(h.rest().next(), h.rest()));
                }
                return h.entry();
            }
        };
    }

    /**
     * An upper bound of every queued job's predicted start as {@link #expireDue} predicts it: now plus the longest
     * time any model's fleet needs for all of its queued work (both lanes); just now without predicted-miss expiry.
     */
    long latestPredictedStartMs(long nowMs) {
        if (!config.expireOnPredictedMiss()) {
            return nowMs;
        }
        long longest = 0;
        for (ModelState m : models.values()) {
            long all = m.queuedWork[JobLane.INTERACTIVE.ordinal()] + m.queuedWork[JobLane.BATCH.ordinal()];
            longest = Math.max(longest, drainMs(m, all));
        }
        return longest >= Long.MAX_VALUE - nowMs ? Long.MAX_VALUE : nowMs + longest;
    }

    /** Milliseconds for the fleet of model {@code m} to work through {@code workTokens}. */
    long drainMs(ModelState m, long workTokens) {
        if (workTokens <= 0) {
            return 0;
        }
        double rate = 0;
        for (PoolLedger p : m.pools) {
            rate += workTokensPerSecond(p, m);
        }
        return rate <= 0 ? Long.MAX_VALUE / 4 : (long) Math.ceil(workTokens / rate * 1000.0);
    }

    static double workTokensPerSecond(PoolLedger ledger, ModelState m) {
        PoolProfile p = ledger.profile;
        int prompt = (int) Math.max(1, Math.round(m.meanPrompt));
        int output = (int) Math.max(1, Math.round(m.meanOutput));
        int seqs = Math.max(1, Math.min(p.maxConcurrentSequences(), p.maxBatchTokens() / prompt));
        long batchPrompt = Math.min((long) seqs * prompt, Integer.MAX_VALUE);
        double seconds = ledger.model.prefillSeconds((int) batchPrompt)
                + ledger.model.decodeSeconds(seqs, output, batchPrompt);
        return seconds <= 0 ? Double.MAX_VALUE / 1e6 : p.instances() * (seqs * (double) (prompt + output)) / seconds;
    }
}
