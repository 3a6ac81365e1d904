package io.inferq.dispatcher;

import io.inferq.dispatcher.BucketQueue.Entry;
import io.inferq.dispatcher.BucketQueue.GroupKey;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import static io.inferq.dispatcher.BucketQueue.GROUP_ORDER;
import static io.inferq.dispatcher.BucketQueue.TENANT_ORDER;

/**
 * The {@link DispatchScheduler}'s queued jobs: the (lane, model, length bucket) groups, every job's group in enqueue
 * order, queued tokens per tenant, counts per lane and the index of queued deadlines; a job's queued work is counted in
 * its model's lane and its tenant's fairness domain while it waits here. Not thread-safe: confined to the scheduler's
 * thread.
 */
final class QueuedJobs {

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final Map<String, ModelState> models;
    private final DispatchMetrics metrics;
    private long enqueueSeq;
    final TreeMap<GroupKey, BucketQueue> groups = new TreeMap<>(GROUP_ORDER);
    /** Every queued job, in enqueue order. */
    final LinkedHashMap<String, BucketQueue> groupOfJob = new LinkedHashMap<>();
    final Map<String, Long> tenantTokens = new HashMap<>();
    final int[] queuedByLane = new int[JobLane.values().length];
    int queuedWithDeadline;
    /**
     * Deadlines of the queued jobs that have one (deadline → how many jobs): the earliest in O(log n), so that
     * {@link DispatchScheduler#expireDue} and {@link DispatchScheduler#nextDecisionAtMs} need not scan a long queue of
     * far deadlines (batch lines carry their batch's completion window) on every decision.
     */
    final TreeMap<Long, Integer> deadlines = new TreeMap<>();

    QueuedJobs(DispatchConfig config, FairnessConfig fairness, Map<String, ModelState> models, DispatchMetrics metrics) {
        this.config = config;
        this.fairness = fairness;
        this.models = models;
        this.metrics = metrics;
    }

    /** Files an admitted job (not queued yet, served by model {@code m}) under its group; returns the group. */
    BucketQueue add(QueuedJob job, ModelState m) {
        GroupKey key = new GroupKey(job.lane(), job.model(), config.lengthBuckets().bucketOf(job.promptTokens()));
        BucketQueue g = groups.computeIfAbsent(key, BucketQueue::new);
        g.jobs.put(job.jobId(), job);
        g.promptTokens += job.promptTokens();
        groupOfJob.put(job.jobId(), g);
        if (fairness.enabled()) {
            long seq = ++enqueueSeq;
            g.seqOf.put(job.jobId(), seq);
            g.byTenant.computeIfAbsent(job.tenant(), t -> new TreeSet<>(TENANT_ORDER)).add(new Entry(job, seq));
        }
        VirtualTokenCounter vtc = m.fair[job.lane().ordinal()];
        if (vtc.queued(job.tenant(), job.quotaTokens())) {
            metrics.tenantBacklogged(job.model(), job.lane(), job.tenant(), vtc);
        }
        tenantTokens.merge(job.tenant(), job.quotaTokens(), Long::sum);
        m.queuedWork[job.lane().ordinal()] += job.quotaTokens();
        queuedByLane[job.lane().ordinal()]++;
        if (job.deadlineAtMs() != null) {
            queuedWithDeadline++;
            deadlines.merge(job.deadlineAtMs(), 1, Integer::sum);
        }
        return g;
    }

    QueuedJob remove(String jobId) {
        BucketQueue g = groupOfJob.remove(jobId);
        if (g == null) {
            return null;
        }
        QueuedJob job = g.jobs.remove(jobId);
        unaccount(g, job);
        return job;
    }

    private void unaccount(BucketQueue g, QueuedJob job) {
        g.promptTokens -= job.promptTokens();
        g.skips.remove(job.jobId());
        Long seq = g.seqOf.remove(job.jobId());
        if (seq != null) {
            TreeSet<Entry> own = g.byTenant.get(job.tenant());
            own.remove(new Entry(job, seq));
            if (own.isEmpty()) {
                g.byTenant.remove(job.tenant());
            }
        }
        models.get(job.model()).fair[job.lane().ordinal()].left(job.tenant(), job.quotaTokens());
        if (g.jobs.isEmpty()) {
            groups.remove(g.key);
        }
        tenantTokens.computeIfPresent(job.tenant(), (t, v) -> v - job.quotaTokens() <= 0 ? null : v - job.quotaTokens());
        models.get(job.model()).queuedWork[job.lane().ordinal()] -= job.quotaTokens();
        queuedByLane[job.lane().ordinal()]--;
        if (job.deadlineAtMs() != null) {
            queuedWithDeadline--;
            deadlines.computeIfPresent(job.deadlineAtMs(), (d, n) -> n == 1 ? null : n - 1);
        }
    }

    /** A dispatched job leaves its group and the queue. */
    void dispatched(BucketQueue g, QueuedJob j) {
        g.jobs.remove(j.jobId());
        groupOfJob.remove(j.jobId());
        unaccount(g, j);
    }

    /** Jobs queued in both lanes. */
    int queuedJobs() {
        return queuedByLane[0] + queuedByLane[1];
    }
}
