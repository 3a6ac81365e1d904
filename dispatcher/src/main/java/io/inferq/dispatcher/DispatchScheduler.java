package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.Collections;

/**
 * The dispatcher's central queue and its decisions: admission, two lanes, length buckets, batch forming
 * within per-pool limits and credits, and pool selection through a {@link RoutingPolicy}. Pure logic: no I/O,
 * no clock (time comes in as {@code nowMs}), no threads, so it can be replayed in virtual time.
 *
 * <h2>Threading</h2>
 * Not thread-safe. Confine every call to one thread or one Vert.x context; the policy and the
 * {@link PrefixLocator} are called on that thread and must not block.
 *
 * <h2>Lanes and anti-starvation</h2>
 * Queued jobs are grouped by (lane, model, length bucket). When credits are free, ready groups are served in
 * this order: first every <em>interactive</em> group and every <em>promoted</em> batch group, oldest head job
 * first; then the remaining batch groups, oldest head first. A batch-lane group is promoted once its oldest
 * job has waited {@link DispatchConfig#batchPromotionAfterMs()}: from then on it competes with interactive work
 * by enqueue time, so a sustained interactive burst delays batch work by at most that long plus the
 * interactive work that arrived before it — the batch lane never starves. Interactive groups that are not
 * ready yet (still filling) do not reserve credits. With headroom ({@link DispatchConfig#headroomCredits()} &gt; 0)
 * a group is promoted only when, in addition, no batch of its (model, bucket) was dispatched for that long: a large
 * batch working through its backlog is being served, not starved.
 *
 * <h2>Headroom</h2>
 * A credit is one batch in flight and a started batch runs to its end, so a work-conserving dispatcher hands every free
 * credit to a flood and a newly arriving job below its share waits for a whole batch to finish. With
 * {@link DispatchConfig#headroomCredits()} = R &gt; 0, each pool keeps its last {@code min(R, credits − 1)} free
 * credits for work below its share: (a) a batch-lane group that is not promoted may not take them while interactive
 * work for its model was seen (enqueued or queued) within {@link DispatchConfig#headroomWindowMs()}; (b) with fair
 * sharing, a group whose fair-order head tenant holds at least its weighted share of the model's credits (among the
 * tenants seen within the window, holding credits or backlogged) may not take them — the reserve then goes to the
 * group's tenants below their share, if any. A batch counts for the tenant with most tokens in it. With no recent
 * interactive work and one active tenant nothing is reserved. Optionally ({@link DispatchConfig#headroomIdleInstances()})
 * restricted work also may not start on one of the model's last idle instances. Every class can always use at least
 * one credit per pool; a group held only by the reserve is woken when the reservation lapses
 * ({@link #nextDecisionAtMs}) or a batch finishes, so no job waits for ever.
 *
 * <h2>Batch forming</h2>
 * A group is <em>ready</em> when it holds enough to fill a batch for the smallest pool of its model (its
 * prompt tokens reach that pool's {@code maxBatchTokens} or its job count reaches {@code maxConcurrentSequences})
 * or when its oldest job has waited the lane's max wait. A batch for a pool takes the group's jobs in queue
 * order (skipping jobs that would overflow, looking at most two batches' worth of sequences ahead) within the
 * pool's {@code maxBatchTokens} and {@code maxConcurrentSequences}; it is sent only if the pool has a free
 * batch credit. One credit = one batch in flight; a pool has {@code instances × maxInFlightBatchesPerInstance}
 * (the runtime may lower that with {@link #setBatchCredits}, e.g. on engine back-pressure). Credits return on
 * {@link #batchFinished}.
 *
 * <h2>Prefix-affinity batch forming</h2>
 * With {@link DispatchConfig#prefixOverlapWeight()} &gt; 0 and a {@link PrefixLocator} other than
 * {@link PrefixLocator#NONE}, each candidate pool forms <em>its own</em> batch from the group (as the KV-aware
 * routers of Dynamo and SGLang do): within a look-ahead window of the group's first
 * {@value #AFFINITY_LOOKAHEAD_FACTOR} × (largest candidate sequence cap) jobs, the head job always goes first,
 * then jobs already passed over {@value #MAX_AFFINITY_SKIPS} times (queue order), then the jobs whose leading
 * blocks this pool caches more than any other candidate does, then by tokens cached here, then queue order; the
 * batch is the first fit of that ranking within the pool's limits. Pools are compared on the jobs each would take
 * (a batch of the decision's smallest limits, ranked for that pool), so the cached prefix lowers exactly the
 * prefill the pool would save; queued work still raises its completion time, so a hot prefix spills over to
 * other pools once its pool's backlog costs more than the prefill saved. Fairness: the oldest job of a group is
 * in every batch formed from it, as in queue order; a job behind it is passed over by at most
 * {@value #MAX_AFFINITY_SKIPS} batches of its group before it goes in queue order ahead of any affinity choice.
 * When no candidate caches anything of the window, or with weight 0 or {@link PrefixLocator#NONE}, batches are
 * formed in queue order exactly as above. Cost per decision: one (memoised) locator call per window job and a
 * sort of the window per candidate pool. With fair sharing (below), "queue order" here is the group's fair order,
 * and the head is its first job.
 *
 * <h2>Fair sharing between tenants</h2>
 * With {@link FairnessConfig#enabled()} (the default), each (model, lane) is a fairness domain with its own
 * {@link VirtualTokenCounter}, and every length-bucket group keeps its jobs per tenant, earliest deadline first, then
 * enqueue order. The lane (and model) to serve next is chosen as above (interactive and promoted batch work first,
 * oldest head first); within it, the next group is the ready one holding the next job of the backlogged tenant with
 * the lowest counter, and a batch takes that group's jobs in <em>fair order</em> — repeatedly the next job of the
 * tenant whose counter, plus what the jobs already placed would charge it, is lowest — instead of enqueue order. The
 * "head" of a group for batch forming (always in the batch; first in the affinity ranking) is the first job in fair
 * order; readiness, max wait and promotion still use the group's oldest job. Each dispatched job charges its tenant
 * (prompt tokens not cached on the chosen pool and output budget, weighted; see {@link VirtualTokenCounter}). Prefix
 * affinity reorders within the fair-order window, but never takes a job of a tenant more than
 * {@link FairnessConfig#affinityBudgetTokens()} above the lowest backlogged counter ahead of other tenants' jobs.
 * Admission and expiry predict a job's wait from its tenant's fair share of the fleet
 * ({@link VirtualTokenCounter#fairWorkAhead}) rather than from all work queued ahead of it, so a flood from one
 * tenant no longer makes the others' deadlines look unreachable. The per-tenant queued-token quota stays as a safety
 * net. With fair sharing off, each lane is served oldest-first across tenants, as described above.
 *
 * <h2>Bounds</h2>
 * At most {@link DispatchConfig#maxQueuedJobs()} jobs are queued. {@link #admit} rejects with
 * {@link Admission#CODE_QUEUE_FULL} and {@link #enqueue} throws at the bound; the runtime is expected to pause
 * intake (Kafka {@code pause()}) while {@link #remainingCapacity()} is below its poll size, so the excess waits
 * in Kafka, where priority still applies once it is read.
 *
 * <h2>Predicted wait</h2>
 * A job's predicted wait is the work queued ahead of it for its model (prompt + max output tokens of queued
 * interactive jobs, plus queued batch jobs enqueued earlier for a batch job) divided by the model's fleet
 * throughput, estimated per pool from its {@link ServiceTimeModel} for a full batch of the workload's mean
 * prompt and output length (exponential moving means over enqueued jobs, seeded with the first one; before any job, {@link DispatchConfig#referenceOutputTokens()} and 1024 prompt tokens). It ignores work already in flight, so it is
 * optimistic; a job is only rejected or expired when even this estimate misses its deadline.
 */
public final class DispatchScheduler {

    private static final double EWMA_ALPHA = 0.01;
    /** Prefix-affinity look-ahead: this many times the largest candidate pool's sequence cap. */
    static final int AFFINITY_LOOKAHEAD_FACTOR = 4;
    /** Prefix-affinity fairness: a job passed over this many times is taken in queue order, before affinity. */
    static final int MAX_AFFINITY_SKIPS = 3;
    /**
     * How long a pool whose shared credits are all held by other dispatchers counts as full before the gate is asked
     * again: about one interactive max wait, far below a batch's service time, so a freed credit is seen promptly.
     */
    static final long GATE_RETRY_MS = 25;

    private record GroupKey(JobLane lane, String model, int bucket) {
    }

    private static final Comparator<GroupKey> GROUP_ORDER = Comparator.comparing(GroupKey::lane)
            .thenComparing(GroupKey::model).thenComparingInt(GroupKey::bucket);

    /** A queued job with its enqueue sequence number (fair sharing only). */
    private record Entry(QueuedJob job, long seq) {
    }

    /** Order of one tenant's jobs: earliest deadline first (none last), then enqueue time, then enqueue order. */
    private static final Comparator<Entry> TENANT_ORDER = Comparator
            .comparing((Entry e) -> e.job().deadlineAtMs(), Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparingLong(e -> e.job().enqueuedAtMs()).thenComparingLong(Entry::seq);
    /** {@link #TENANT_ORDER} without the enqueue sequence: equal deadline and enqueue time tie. */
    private static final Comparator<Entry> URGENCY_ORDER = Comparator
            .comparing((Entry e) -> e.job().deadlineAtMs(), Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparingLong(e -> e.job().enqueuedAtMs());

    /** Jobs of one (lane, model, bucket), in enqueue order. */
    private static final class BucketQueue {
        final GroupKey key;
        final LinkedHashMap<String, QueuedJob> jobs = new LinkedHashMap<>();
        /** Prefix-affinity batch forming only: how often each queued job was passed over. */
        final Map<String, Integer> skips = new HashMap<>();
        /** Fair sharing only: the group's jobs per tenant, in {@link #TENANT_ORDER}. */
        final Map<String, TreeSet<Entry>> byTenant = new HashMap<>();
        /** Fair sharing only: enqueue sequence number of each job. */
        final Map<String, Long> seqOf = new HashMap<>();
        long promptTokens;

        BucketQueue(GroupKey key) {
            this.key = key;
        }

        QueuedJob head() {
            return jobs.values().iterator().next();
        }
    }

    private static final class ModelState {
        final String model;
        final List<PoolLedger> pools = new ArrayList<>();
        int minBatchTokens = Integer.MAX_VALUE;
        int minSequences = Integer.MAX_VALUE;
        int maxBatchTokens;
        /** Instances of all pools serving the model. */
        int instances;
        final long[] queuedWork = new long[JobLane.values().length];
        /** One virtual token counter per lane: the fairness domains of this model. */
        final VirtualTokenCounter[] fair = new VirtualTokenCounter[JobLane.values().length];
        double meanPrompt = 1024;
        double meanOutput;
        long seenJobs;
        /** Headroom: when interactive work for this model was last seen (enqueued, or queued at a decision). */
        long interactiveSeenMs = Long.MIN_VALUE;
        /** Headroom: when each tenant was last seen (enqueued or dispatched) for this model. */
        final Map<String, Long> tenantSeenMs = new HashMap<>();
        /** Headroom: batch credits of this model's pools held per tenant (each batch counts for its main tenant). */
        final Map<String, Integer> tenantInFlight = new HashMap<>();
        /** Headroom: when a batch-lane batch of each length bucket was last dispatched. */
        final Map<Integer, Long> batchDispatchedMs = new HashMap<>();
        /** Headroom: whether the last decision kept this model's pools' reserve (for the gauge). */
        boolean headroomInForce;

        ModelState(String model) {
            this.model = model;
        }
    }

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private long enqueueSeq;
    private final RoutingPolicy policy;
    private final PrefixLocator prefixes;
    private final Map<String, PoolLedger> pools = new LinkedHashMap<>();
    private final Map<String, ModelState> models = new TreeMap<>();
    private final TreeMap<GroupKey, BucketQueue> groups = new TreeMap<>(GROUP_ORDER);
    /** Every queued job, in enqueue order. */
    private final LinkedHashMap<String, BucketQueue> groupOfJob = new LinkedHashMap<>();
    private final Map<String, Long> tenantTokens = new HashMap<>();
    private final int[] queuedByLane = new int[JobLane.values().length];
    private int queuedWithDeadline;
    /**
     * Deadlines of the queued jobs that have one (deadline → how many jobs): the earliest in O(log n), so that
     * {@link #expireDue} and {@link #nextDecisionAtMs} need not scan a long queue of far deadlines (batch lines carry
     * their batch's completion window) on every decision.
     */
    private final TreeMap<Long, Integer> deadlines = new TreeMap<>();
    private long batchSequence;
    /**
     * Random per scheduler, so batch ids never repeat across restarts or between dispatcher processes: a batch id
     * is the owner of the terminal claims its worker takes, and a reused id would let a job run twice.
     */
    private final String batchTag = Long.toString(java.util.concurrent.ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36 * 36,
            36L * 36 * 36 * 36 * 36 * 36 * 36), 36);
    private final DispatchMetrics metrics;
    private boolean calibrate = true;
    /** Headroom: the tenant each in-flight batch counts for, by batch id. */
    private final Map<String, String> batchTenant = new HashMap<>();
    /** The engine priority of each dispatched batch (continuous batching with priority; see {@link EnginePriorities}). */
    private final EnginePriorities enginePriorities = new EnginePriorities(this::fairness);
    /** Headroom: a decision held work back; the earliest time a reservation lapses after it (or MAX_VALUE). */
    private long headroomLapseMs = Long.MAX_VALUE;
    /** Headroom: whether the group being decided may not take the pools' reserved credits. */
    private boolean restricted;

    /** Without metrics. */
    public DispatchScheduler(DispatchConfig config, List<PoolProfile> pools, RoutingPolicy policy,
                             PrefixLocator prefixes) {
        this(config, pools, policy, prefixes, null);
    }

    /** Fair sharing with {@link FairnessConfig#defaults()}. */
    public DispatchScheduler(DispatchConfig config, List<PoolProfile> pools, RoutingPolicy policy,
                             PrefixLocator prefixes, MeterRegistry registry) {
        this(config, FairnessConfig.defaults(), pools, policy, prefixes, registry);
    }

    /**
     * @param config   limits
     * @param fairness fair sharing between tenants ({@link FairnessConfig#oldestFirst()} for none)
     * @param pools    the fleet; pool ids must be unique; at least one pool
     * @param policy   pool selection
     * @param prefixes cached-prefix lookup, {@link PrefixLocator#NONE} for none
     * @param registry meter registry, or {@code null} for no metrics
     */
    public DispatchScheduler(DispatchConfig config, FairnessConfig fairness, List<PoolProfile> pools,
                             RoutingPolicy policy, PrefixLocator prefixes, MeterRegistry registry) {
        this.config = Objects.requireNonNull(config, "config must not be null");
        this.fairness = Objects.requireNonNull(fairness, "fairness must not be null (use FairnessConfig.oldestFirst())");
        this.policy = Objects.requireNonNull(policy, "policy must not be null");
        this.prefixes = Objects.requireNonNull(prefixes, "prefixes must not be null (use PrefixLocator.NONE)");
        Objects.requireNonNull(pools, "pools must not be null");
        if (pools.isEmpty()) {
            throw new IllegalArgumentException("pools must name at least one pool");
        }
        this.metrics = new DispatchMetrics(registry, this);
        for (PoolProfile p : pools) {
            PoolLedger ledger = new PoolLedger(p, config.maxInFlightBatchesPerInstance());
            if (this.pools.putIfAbsent(p.poolId(), ledger) != null) {
                throw new IllegalArgumentException("pools: duplicate poolId " + p.poolId());
            }
            ModelState m = models.computeIfAbsent(p.model(), ModelState::new);
            for (JobLane lane : JobLane.values()) {
                if (m.fair[lane.ordinal()] == null) {
                    m.fair[lane.ordinal()] = new VirtualTokenCounter(fairness);
                }
            }
            m.pools.add(ledger);
            m.instances += p.instances();
            m.minBatchTokens = Math.min(m.minBatchTokens, p.maxBatchTokens());
            m.minSequences = Math.min(m.minSequences, p.maxConcurrentSequences());
            m.maxBatchTokens = Math.max(m.maxBatchTokens, p.maxBatchTokens());
            m.meanOutput = config.referenceOutputTokens();
            metrics.registerPool(p.poolId(), this);
        }
    }

    // ------------------------------------------------------------------ admission and queue

    /**
     * Decides whether {@code job} may be enqueued now; does not enqueue it. Checks, in order: the queue bound,
     * that a pool serves the model and fits the prompt, the tenant's queued-token quota, and that the predicted
     * wait ends before the job's deadline.
     */
    public Admission admit(QueuedJob job, long nowMs) {
        Admission a = check(job, nowMs);
        if (a instanceof Admission.Rejected r) {
            metrics.rejected(r.code(), job.lane());
        }
        return a;
    }

    private Admission check(QueuedJob job, long nowMs) {
        if (queuedJobs() >= config.maxQueuedJobs()) {
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
    private long fairWorkAhead(ModelState m, QueuedJob job) {
        VirtualTokenCounter vtc = m.fair[job.lane().ordinal()];
        long own = vtc.queuedWork(job.tenant()) + job.quotaTokens();
        long ahead = Math.max(0, Math.round(vtc.fairWorkAhead(job.tenant(), own)) - job.quotaTokens());
        return ahead + (job.lane() == JobLane.BATCH ? m.queuedWork[JobLane.INTERACTIVE.ordinal()] : 0);
    }

    /**
     * Adds an admitted job to the queue. Idempotent: a job id already queued is ignored (Kafka may redeliver).
     *
     * @return false if the job was already queued
     * @throws IllegalStateException    if {@code maxQueuedJobs} jobs are queued (the runtime must pause first)
     * @throws IllegalArgumentException if no pool can ever run the job (call {@link #admit} first)
     */
    public boolean enqueue(QueuedJob job) {
        Objects.requireNonNull(job, "job must not be null");
        if (groupOfJob.containsKey(job.jobId())) {
            return false;
        }
        if (queuedJobs() >= config.maxQueuedJobs()) {
            throw new IllegalStateException("maxQueuedJobs=" + config.maxQueuedJobs()
                    + " reached; pause intake while remainingCapacity() is low");
        }
        ModelState m = models.get(job.model());
        if (m == null) {
            throw new IllegalArgumentException("no pool serves model " + job.model());
        }
        if (job.promptTokens() > m.maxBatchTokens) {
            throw new IllegalArgumentException("the prompt has " + job.promptTokens() + " tokens; the pools serving "
                    + job.model() + " take at most " + m.maxBatchTokens + " prompt tokens per batch (max-batch-tokens)");
        }
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
        if (m.seenJobs++ == 0) {
            m.meanPrompt = job.promptTokens();
            m.meanOutput = job.maxTokens();
        } else {
            m.meanPrompt += EWMA_ALPHA * (job.promptTokens() - m.meanPrompt);
            m.meanOutput += EWMA_ALPHA * (job.maxTokens() - m.meanOutput);
        }
        queuedByLane[job.lane().ordinal()]++;
        if (job.deadlineAtMs() != null) {
            queuedWithDeadline++;
            deadlines.merge(job.deadlineAtMs(), 1, Integer::sum);
        }
        if (job.lane() == JobLane.INTERACTIVE) {
            m.interactiveSeenMs = Math.max(m.interactiveSeenMs, job.enqueuedAtMs());
        }
        m.tenantSeenMs.merge(job.tenant(), job.enqueuedAtMs(), Math::max);
        return true;
    }

    /**
     * Removes a queued job: it will never be part of a batch.
     *
     * @return true if it was queued; false if unknown or already dispatched (cancel those at the pool)
     */
    public boolean cancel(String jobId) {
        QueuedJob removed = remove(jobId);
        if (removed != null) {
            metrics.cancelled();
        }
        return removed != null;
    }

    /**
     * Removes a queued job this dispatcher no longer owns (its request partition moved to another dispatcher, which
     * reads it again): it will not be dispatched here. Not counted as cancelled.
     *
     * @return true if it was queued
     */
    public boolean withdraw(String jobId) {
        return remove(jobId) != null;
    }

    private QueuedJob remove(String jobId) {
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

    /**
     * Removes and returns the queued jobs that should end as {@code expired}: those whose deadline has passed
     * and, if {@link DispatchConfig#expireOnPredictedMiss()}, those whose predicted dispatch time is after their
     * deadline. Cost: O(models) when no deadline can be due yet — the earliest deadline lies beyond the time the
     * fleet needs to drain all queued work of every model (no job's predicted wait is longer than that), which is
     * the usual case with a long queue of far deadlines such as a batch's completion window; otherwise O(queued
     * jobs).
     */
    public List<QueuedJob> expireDue(long nowMs) {
        if (queuedWithDeadline == 0 || deadlines.firstKey() > latestPredictedStartMs(nowMs)) {
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
            remove(j.jobId());
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
    private List<QueuedJob> fairlyDue(long nowMs) {
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

    /** The entries of several queues of one tenant in {@link #TENANT_ORDER} (a k-way merge). */
    private static Iterator<Entry> merged(List<TreeSet<Entry>> queues) {
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

    // ------------------------------------------------------------------ batch forming and routing

    /**
     * Forms the batches to send now and takes their credits. Every batch is within its pool's
     * {@code maxBatchTokens} and {@code maxConcurrentSequences}, holds jobs of one lane, model and length bucket,
     * and never exceeds the pool's free credits. Returned jobs have left the queue.
     */
    public List<BatchPlan> formBatches(long nowMs) {
        List<BatchPlan> plans = new ArrayList<>();
        for (PoolLedger p : pools.values()) {
            if (p.gateRefused && nowMs >= p.gateRefusedUntilMs) {
                p.gateRefused = false;
            }
        }
        Set<BucketQueue> held = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<String, Map<String, Integer>> prefixMemo = new HashMap<>();
        boolean affinity = affinity();
        headroomLapseMs = Long.MAX_VALUE;
        for (ModelState m : models.values()) {
            if (m.queuedWork[JobLane.INTERACTIVE.ordinal()] > 0) {
                m.interactiveSeenMs = Math.max(m.interactiveSeenMs, nowMs);
            }
            m.headroomInForce = config.headroomCredits() > 0
                    && (interactiveRecent(m, nowMs) || activeWeights(m, nowMs).size() > 1);
        }
        while (true) {
            BucketQueue g = nextReadyGroup(nowMs, held);
            if (g == null) {
                restricted = false;
                return plans;
            }
            ModelState m = models.get(g.key.model());
            QueuedJob head = g.head();
            restricted = headroomRestricted(g, m, nowMs);
            Set<String> overShare = null;
            List<PoolLedger> candidates = new ArrayList<>();
            boolean anyCredit = false;
            boolean anyReserved = false;
            int cmpTokens = Integer.MAX_VALUE;
            int cmpSeqs = Integer.MAX_VALUE;
            for (PoolLedger p : m.pools) {
                if (p.profile.maxBatchTokens() >= head.promptTokens()) {
                    candidates.add(p);
                    anyCredit |= usableCredits(p) > 0;
                    anyReserved |= p.freeCredits() > 0;
                    cmpTokens = Math.min(cmpTokens, p.profile.maxBatchTokens());
                    cmpSeqs = Math.min(cmpSeqs, p.profile.maxConcurrentSequences());
                }
            }
            if (!anyCredit && anyReserved && restricted && !laneRestricted(g, m, nowMs)) {
                // the next tenant is at its share: the reserve goes to the group's tenants below theirs, if any
                Set<String> over = overShareTenants(g, m, nowMs);
                if (over.size() < g.byTenant.size()) {
                    overShare = over;
                    restricted = false;
                    anyCredit = true;
                }
            }
            if (!anyCredit) {
                if (anyReserved) {
                    heldByHeadroom(m, nowMs);
                }
                held.add(g);
                continue;
            }
            int maxSeqs = 1;
            for (PoolLedger p : candidates) {
                maxSeqs = Math.max(maxSeqs, p.profile.maxConcurrentSequences());
            }
            // both first fits below look at most 2 × sequence cap jobs ahead; affinity at most LOOKAHEAD × cap
            List<QueuedJob> order = serviceOrder(g, Math.max(2, AFFINITY_LOOKAHEAD_FACTOR) * maxSeqs, overShare);
            List<RouteOption> byPrefix = affinity
                    ? affinityOptions(g, order, candidates, cmpTokens, cmpSeqs, nowMs, prefixMemo) : null;
            boolean byAffinity = byPrefix != null;
            List<RouteOption> options = byAffinity ? byPrefix : new ArrayList<>(candidates.size());
            if (!byAffinity) {
                List<QueuedJob> comparison = fit(order, cmpTokens, cmpSeqs);
                for (PoolLedger p : candidates) {
                    List<QueuedJob> jobs = usableCredits(p) > 0
                            ? fit(order, p.profile.maxBatchTokens(), p.profile.maxConcurrentSequences()) : List.of();
                    long cached = cachedTokens(comparison, p.profile.poolId(), prefixMemo);
                    options.add(new RouteOption(p.profile, jobs, usableCredits(p), p.totalCredits(),
                            p.inFlightBatches(), p.inFlightSequences(), p.aheadSeconds(nowMs),
                            serviceSeconds(p.profile, comparison, cached), cached));
                }
            }
            Optional<RouteOption> choice = policy.choose(List.copyOf(options), nowMs);
            RouteOption chosen = choice.flatMap(c -> options.stream()
                    .filter(o -> o.poolId().equals(c.poolId())).findFirst()).orElse(null);
            if (chosen == null || !chosen.hasCredit()) {
                held.add(g);
                continue;
            }
            if (byAffinity && recordSkips(g, order, chosen.jobs())) {
                metrics.formedByAffinity(chosen.poolId());
            }
            BatchPlan plan = dispatch(g, pools.get(chosen.poolId()), chosen.jobs(), nowMs, prefixMemo);
            if (plan != null) {
                plans.add(plan);
            }
        }
    }

    // ------------------------------------------------------------------ headroom

    /** Credits of {@code p} the group being decided may take: all free ones, or those above the reserve. */
    private int usableCredits(PoolLedger p) {
        int free = p.freeCredits();
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

    private int idleInstances(String model) {
        int n = 0;
        for (PoolLedger q : models.get(model).pools) {
            n += q.idleInstances();
        }
        return n;
    }

    /** The pool's reserve: {@code min(headroomCredits, credits − 1)}, so any work can always use one credit. */
    private int reserve(PoolLedger p) {
        return Math.min(config.headroomCredits(), Math.max(0, p.totalCredits() - 1));
    }

    private boolean interactiveRecent(ModelState m, long nowMs) {
        return m.interactiveSeenMs != Long.MIN_VALUE && nowMs - m.interactiveSeenMs < config.headroomWindowMs();
    }

    /**
     * Whether group {@code g} may not take the reserved credits: a batch-lane group not promoted while interactive work
     * for its model was seen within the window; or, with fair sharing, a group whose next tenant (fair-order head)
     * already holds at least its weighted share of the model's credits among the active tenants.
     */
    private boolean headroomRestricted(BucketQueue g, ModelState m, long nowMs) {
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
                && atShare(serviceOrder(g, 1).get(0).tenant(), m, active);
    }

    /** A batch-lane group, not promoted, while interactive work for its model was seen within the window. */
    private boolean laneRestricted(BucketQueue g, ModelState m, long nowMs) {
        return g.key.lane() == JobLane.BATCH && !urgent(g, nowMs) && interactiveRecent(m, nowMs);
    }

    /** Whether {@code tenant} holds at least its weighted share of the model's credits among {@code active}. */
    private boolean atShare(String tenant, ModelState m, Map<String, Double> active) {
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
    private Set<String> overShareTenants(BucketQueue g, ModelState m, long nowMs) {
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
    private Map<String, Double> activeWeights(ModelState m, long nowMs) {
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
    private void heldByHeadroom(ModelState m, long nowMs) {
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
    public int reservedCredits(String poolId) {
        PoolLedger p = ledger(poolId);
        return models.get(p.profile.model()).headroomInForce ? Math.min(reserve(p), p.freeCredits()) : 0;
    }

    /** Whether batches are formed per pool by prefix affinity (weight &gt; 0 and a real locator). */
    private boolean affinity() {
        return config.prefixOverlapWeight() > 0.0 && prefixes != PrefixLocator.NONE;
    }

    /**
     * The route options of one decision with prefix-affinity batch forming. The look-ahead window is the
     * group's first {@value #AFFINITY_LOOKAHEAD_FACTOR} × (largest candidate sequence cap) jobs in service order
     * ({@link #serviceOrder}: queue order, or fair order with fair sharing); jobs of a tenant beyond the affinity
     * budget rank after every other job of the window, in that order.
     * For each candidate pool the window is ranked: the head first, then jobs passed over
     * {@value #MAX_AFFINITY_SKIPS} times already (queue order), then the rest by the prompt tokens this pool
     * caches minus the most any other candidate caches (so a job is left to the pool holding its prefix), then
     * by tokens cached here, then queue order. The pool's batch and its comparison batch (the decision's
     * smallest limits, so pools are compared on equally sized batches) are first fits over that ranking.
     *
     * @return null if no candidate caches any prompt token of the window: queue order then decides, as without
     *         prefix-aware routing
     */
    private List<RouteOption> affinityOptions(BucketQueue g, List<QueuedJob> serviceOrder, List<PoolLedger> candidates,
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
            Map<String, Integer> byPool = lookup(j, memo);
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
            if (usableCredits(p) > 0) {
                for (int i : take(window, order, p.profile.maxBatchTokens(), p.profile.maxConcurrentSequences())) {
                    jobs.add(window.get(i));
                }
            }
            options.add(new RouteOption(p.profile, jobs, usableCredits(p), p.totalCredits(), p.inFlightBatches(),
                    p.inFlightSequences(), p.aheadSeconds(nowMs), serviceSeconds(p.profile, comparison, cachedCmp),
                    cachedCmp));
        }
        return options;
    }

    /**
     * First fit over {@code order} (indices into {@code window}) within the limits, looking at most two batches'
     * worth of sequences into the ranking (as {@link #fit}); the indices taken, in queue order. The first index of
     * {@code order} (the head) is always taken if it fits at all.
     */
    private static List<Integer> take(List<QueuedJob> window, List<Integer> order, int maxTokens, int maxSeqs) {
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
     * group's service order, but not taken), one skip. A job skipped {@value #MAX_AFFINITY_SKIPS} times goes ahead of
     * all affinity choices.
     *
     * @return whether any job was passed over
     */
    private static boolean recordSkips(BucketQueue g, List<QueuedJob> order, List<QueuedJob> taken) {
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

    private Map<String, Integer> lookup(QueuedJob j, Map<String, Map<String, Integer>> memo) {
        return memo.computeIfAbsent(j.jobId(), k -> prefixes.cachedLeadingBlocksByPool(j.prefixBlockHashes()));
    }

    private BucketQueue nextReadyGroup(long nowMs, Set<BucketQueue> held) {
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
    private List<QueuedJob> serviceOrder(BucketQueue g, int limit) {
        return serviceOrder(g, limit, null);
    }

    /** As {@link #serviceOrder(BucketQueue, int)}, without the jobs of {@code excluded} tenants (null: none). */
    private List<QueuedJob> serviceOrder(BucketQueue g, int limit, Set<String> excluded) {
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
    private boolean urgent(BucketQueue g, long nowMs) {
        return g.key.lane() == JobLane.INTERACTIVE || nowMs >= promotedAtMs(g);
    }

    /**
     * When a batch-lane group is promoted: once its oldest job has waited the promotion time and, with headroom, its
     * bucket has had no batch dispatched for as long — a lane that is being served (a large batch working through its
     * backlog) is not starving, and promoting it would take the headroom kept for interactive work.
     */
    private long promotedAtMs(BucketQueue g) {
        long at = g.head().enqueuedAtMs() + config.batchPromotionAfterMs();
        if (config.headroomCredits() > 0) {
            Long last = models.get(g.key.model()).batchDispatchedMs.get(g.key.bucket());
            if (last != null) {
                at = Math.max(at, last + config.batchPromotionAfterMs());
            }
        }
        return at;
    }

    private boolean ready(BucketQueue g, long nowMs) {
        ModelState m = models.get(g.key.model());
        return nowMs - g.head().enqueuedAtMs() >= maxWait(g.key.lane())
                || g.promptTokens >= m.minBatchTokens || g.jobs.size() >= m.minSequences
                || (config.dispatchToIdleInstances() && g.key.lane() == JobLane.INTERACTIVE && idlePoolFits(m, g.head()));
    }

    /** Whether a pool of the model that fits {@code head} has a free credit and an idle instance. */
    private static boolean idlePoolFits(ModelState m, QueuedJob head) {
        for (PoolLedger p : m.pools) {
            if (p.profile.maxBatchTokens() >= head.promptTokens() && p.freeCredits() > 0 && p.hasIdleInstance()) {
                return true;
            }
        }
        return false;
    }

    private long maxWait(JobLane lane) {
        return lane == JobLane.INTERACTIVE ? config.interactiveMaxWaitMs() : config.batchMaxWaitMs();
    }

    /** First fit over {@code order} within the limits; always contains the head if it fits at all. */
    private static List<QueuedJob> fit(List<QueuedJob> order, int maxTokens, int maxSeqs) {
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

    private long cachedTokens(List<QueuedJob> jobs, String poolId, Map<String, Map<String, Integer>> memo) {
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
    private double serviceSeconds(PoolProfile pool, List<QueuedJob> jobs, long cachedTokens) {
        PoolLedger ledger = pools.get(pool.poolId());
        return ledger.model.seconds(priorEstimate(ledger, jobs, cachedTokens));
    }

    /** The prior's parts of {@code jobs} as one batch on {@code pool}, for estimating and later calibrating. */
    private CalibratedServiceTime.Estimate priorEstimate(PoolLedger pool, List<QueuedJob> jobs, long cachedTokens) {
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

    /** @return the plan, or null if a shared credit gate refused every instance of the pool (nothing changed) */
    private BatchPlan dispatch(BucketQueue g, PoolLedger pool, List<QueuedJob> jobs, long nowMs,
                               Map<String, Map<String, Integer>> memo) {
        String batchId = pool.profile.poolId() + "-" + batchTag + "-" + (batchSequence + 1);
        long work = 0;
        for (QueuedJob j : jobs) {
            work += j.quotaTokens();
        }
        CalibratedServiceTime.Estimate prior = priorEstimate(pool, jobs, cachedTokens(jobs, pool.profile.poolId(), memo));
        double est = pool.model.seconds(prior);
        int instance = pool.add(batchId, jobs.size(), work, est, nowMs, cachedBlocksByInstance(pool, jobs), prior);
        if (instance < 0) {
            pool.gateRefusedUntilMs = nowMs + GATE_RETRY_MS;
            pool.gateRefused = true;
            return null;
        }
        batchSequence++;
        VirtualTokenCounter vtc = models.get(g.key.model()).fair[g.key.lane().ordinal()];
        for (QueuedJob j : jobs) {
            // charged before it leaves the backlog, so a tenant that leaves takes its served counter with it
            long cached = cachedTokens(List.of(j), pool.profile.poolId(), memo);
            vtc.charge(j.tenant(), j.promptTokens() - cached, j.maxTokens());
            g.jobs.remove(j.jobId());
            groupOfJob.remove(j.jobId());
            unaccount(g, j);
        }
        ModelState m = models.get(g.key.model());
        if (g.key.lane() == JobLane.BATCH) {
            m.batchDispatchedMs.put(g.key.bucket(), nowMs);
        }
        Map<String, Long> tokensOf = new HashMap<>();
        String main = null;
        for (QueuedJob j : jobs) {
            long t = tokensOf.merge(j.tenant(), j.quotaTokens(), Long::sum);
            if (main == null || t > tokensOf.get(main)) {
                main = j.tenant();
            }
            m.tenantSeenMs.merge(j.tenant(), nowMs, Math::max);
        }
        if (main != null) {
            batchTenant.put(batchId, g.key.model() + "\u0000" + main);
            m.tenantInFlight.merge(main, 1, Integer::sum);
        }
        BatchPlan plan = enginePriorities.assign(new BatchPlan(batchId, pool.profile.poolId(),
                config.lengthBuckets().upperTokens(g.key.bucket()), jobs, instance));
        metrics.dispatched(plan, nowMs);
        return plan;
    }

    /**
     * Shares the pools' batch credits with other dispatchers through {@code gate}: a batch is sent only when the gate
     * grants a credit of the instance it goes to, so N dispatchers together never keep more than
     * {@code maxInFlightBatchesPerInstance} batches on one instance. A pool whose every instance the gate refuses
     * counts as having no free credit for {@value #GATE_RETRY_MS} ms (another dispatcher's batch may end meanwhile);
     * then it is asked again. Set before the first batch.
     */
    public void shareCredits(io.inferq.dispatcher.credits.CreditGate gate) {
        Objects.requireNonNull(gate, "gate must not be null (use CreditGate.UNSHARED)");
        for (PoolLedger p : pools.values()) {
            p.gate = gate;
        }
    }

    /** Prefix blocks of {@code jobs} each instance of the pool holds, summed; empty when the locator cannot tell. */
    private int[] cachedBlocksByInstance(PoolLedger pool, List<QueuedJob> jobs) {
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

    /**
     * Returns the batch's credit to its pool, without learning from its run time (see
     * {@link #batchFinished(String, String, long, boolean)}). Idempotent: an unknown or already finished batch is ignored.
     * Call {@link #formBatches} afterwards: freed credits may let held work go.
     *
     * @return true if the batch was in flight
     */
    public boolean batchFinished(String poolId, String batchId, long nowMs) {
        return batchFinished(poolId, batchId, nowMs, false);
    }

    /**
     * As {@link #batchFinished(String, String, long)}; with {@code ranAsEstimated} (every job of the batch ran to its
     * end on the pool) and calibration on, the batch's run time calibrates the pool's service-time model
     * ({@link CalibratedServiceTime}). Pass false when jobs were dropped, cancelled or handed back: the batch then
     * says nothing about the pool's speed.
     */
    public boolean batchFinished(String poolId, String batchId, long nowMs, boolean ranAsEstimated) {
        PoolLedger p = pools.get(poolId);
        boolean finished = p != null && p.finish(batchId, nowMs, ranAsEstimated && calibrate);
        if (finished) {
            enginePriorities.finished(batchId);
            String modelTenant = batchTenant.remove(batchId);
            if (modelTenant != null) {
                int cut = modelTenant.indexOf('\u0000');
                ModelState m = models.get(modelTenant.substring(0, cut));
                m.tenantInFlight.computeIfPresent(modelTenant.substring(cut + 1), (t, n) -> n <= 1 ? null : n - 1);
            }
        }
        return finished;
    }

    /**
     * Turns learning service times from finished batches on (the default) or off; off keeps each pool's current
     * estimate (its prior, if never on).
     */
    public void setCalibration(boolean enabled) {
        this.calibrate = enabled;
    }

    /** The calibrated service-time model of a pool: its prior and what the batches it ran taught. */
    public CalibratedServiceTime serviceTime(String poolId) {
        return ledger(poolId).model;
    }

    /**
     * Sets a pool's batch credits (clamped to {@code [0, instances × maxInFlightBatchesPerInstance]}), e.g.
     * fewer while its engine answers 429/503. In-flight batches above the new limit are not recalled.
     */
    public void setBatchCredits(String poolId, int credits) {
        PoolLedger p = pools.get(poolId);
        if (p == null) {
            throw new IllegalArgumentException("unknown poolId " + poolId);
        }
        p.setBatchCredits(credits);
    }

    /**
     * The next time {@link #formBatches} or {@link #expireDue} has something to do without any other event:
     * the earliest max-wait expiry, batch-lane promotion or deadline among queued jobs that lies after
     * {@code nowMs}; {@link Long#MAX_VALUE} if none. Work waiting for credits is woken by {@link #batchFinished},
     * not by this timer.
     */
    public long nextDecisionAtMs(long nowMs) {
        long next = Long.MAX_VALUE;
        for (BucketQueue g : groups.values()) {
            long enq = g.head().enqueuedAtMs();
            next = earliestAfter(next, enq + maxWait(g.key.lane()), nowMs);
            if (g.key.lane() == JobLane.BATCH) {
                next = earliestAfter(next, promotedAtMs(g), nowMs);
            }
        }
        if (!groups.isEmpty()) {
            for (PoolLedger p : pools.values()) {
                if (p.gateRefused) {
                    next = earliestAfter(next, p.gateRefusedUntilMs, nowMs);
                }
            }
        }
        if (!groups.isEmpty()) {
            next = earliestAfter(next, headroomLapseMs, nowMs);
        }
        Long deadline = deadlines.higherKey(nowMs);
        if (deadline != null) {
            next = earliestAfter(next, deadline, nowMs);
        }
        return next;
    }

    private static long earliestAfter(long current, long candidate, long nowMs) {
        return candidate > nowMs && candidate < current ? candidate : current;
    }

    // ------------------------------------------------------------------ gauges

    /** Jobs queued in both lanes. */
    public int queuedJobs() {
        return queuedByLane[0] + queuedByLane[1];
    }

    public int queuedJobs(JobLane lane) {
        return queuedByLane[lane.ordinal()];
    }

    /** How many more jobs may be enqueued before {@code maxQueuedJobs}. */
    public int remainingCapacity() {
        return config.maxQueuedJobs() - queuedJobs();
    }

    /** Whether {@code jobId} is waiting in the queue. */
    public boolean isQueued(String jobId) {
        return groupOfJob.containsKey(jobId);
    }

    /** Queued tokens (prompt + max output) charged to {@code tenant}. */
    public long queuedTokens(String tenant) {
        return tenantTokens.getOrDefault(tenant, 0L);
    }

    public int inFlightBatches(String poolId) {
        return ledger(poolId).inFlightBatches();
    }

    public int freeBatchCredits(String poolId) {
        return ledger(poolId).freeCredits();
    }

    /** Whether any pool serving {@code model} has a free credit (if none, the runtime may pause intake). */
    public boolean hasFreeCredits(String model) {
        ModelState m = models.get(model);
        if (m == null) {
            return false;
        }
        for (PoolLedger p : m.pools) {
            if (p.freeCredits() > 0) {
                return true;
            }
        }
        return false;
    }

    /** Share of the pool's batch credits in use, 0..1. */
    public double creditUtilisation(String poolId) {
        PoolLedger p = ledger(poolId);
        return p.maxBatchCredits == 0 ? 0 : (double) p.inFlightBatches() / p.maxBatchCredits;
    }

    /** The pools, in configuration order. */
    public List<PoolProfile> pools() {
        List<PoolProfile> out = new ArrayList<>();
        for (PoolLedger p : pools.values()) {
            out.add(p.profile);
        }
        return out;
    }

    public DispatchConfig config() {
        return config;
    }

    /**
     * One queue of the scheduler, for the operator console: its jobs, their prompt tokens and the age of the oldest.
     *
     * @param bucketUpperTokens the length bucket's upper edge in prompt tokens ({@link Integer#MAX_VALUE} for the last)
     */
    public record QueueGroupDepth(JobLane lane, String model, int bucketUpperTokens, int jobs, long promptTokens,
            long oldestEnqueuedAtMs) {
    }

    /** @return every non-empty (lane, model, length bucket) queue, in serving order; cost: one step per queue */
    public List<QueueGroupDepth> queueGroups() {
        List<QueueGroupDepth> out = new ArrayList<>(groups.size());
        for (BucketQueue q : groups.values()) {
            if (!q.jobs.isEmpty()) {
                out.add(new QueueGroupDepth(q.key.lane(), q.key.model(), config.lengthBuckets().upperTokens(q.key.bucket()),
                        q.jobs.size(), q.promptTokens, q.head().enqueuedAtMs()));
            }
        }
        return out;
    }

    /** @return queued tokens (prompt + max output) per tenant that has any queued */
    public Map<String, Long> queuedTokensByTenant() {
        return new TreeMap<>(tenantTokens);
    }

    public FairnessConfig fairness() {
        return fairness;
    }

    /**
     * The virtual token counter of one fairness domain, for reading (metrics, tests, the simulator): counters,
     * backlog and service per tenant. Confined to the scheduler's thread like everything else here.
     *
     * @throws IllegalArgumentException if no pool serves {@code model}
     */
    public VirtualTokenCounter fairShare(String model, JobLane lane) {
        ModelState m = models.get(model);
        if (m == null) {
            throw new IllegalArgumentException("no pool serves model " + model);
        }
        return m.fair[lane.ordinal()];
    }

    public RoutingPolicy policy() {
        return policy;
    }

    private PoolLedger ledger(String poolId) {
        PoolLedger p = pools.get(poolId);
        if (p == null) {
            throw new IllegalArgumentException("unknown poolId " + poolId);
        }
        return p;
    }

    /**
     * An upper bound of every queued job's predicted start as {@link #expireDue} predicts it: now plus the longest
     * time any model's fleet needs for all of its queued work (both lanes); just now without predicted-miss expiry.
     */
    private long latestPredictedStartMs(long nowMs) {
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
    private long drainMs(ModelState m, long workTokens) {
        if (workTokens <= 0) {
            return 0;
        }
        double rate = 0;
        for (PoolLedger p : m.pools) {
            rate += workTokensPerSecond(p, m);
        }
        return rate <= 0 ? Long.MAX_VALUE / 4 : (long) Math.ceil(workTokens / rate * 1000.0);
    }

    private static double workTokensPerSecond(PoolLedger ledger, ModelState m) {
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
