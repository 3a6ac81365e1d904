package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.BucketQueue.GroupKey;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
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
 * <h2>Fair credits</h2>
 * With continuous-batching engines every batch credit of an instance is a stream into its engine: a batch sent on a
 * free credit is admitted at the engine's next iteration boundary, sharing the engine by priority, so a credit costs
 * little, but a flood that holds every credit still makes a newly arriving job of another tenant wait in the queue.
 * With {@link FairnessConfig#fairCredits()} (on by default, as in the server's {@code dispatcher.fairness.fair-credits};
 * the workers' slots keep enough batches in flight for them, {@code 1 + ⌈maxConcurrentSequences ÷ streams⌉} each),
 * each pool instance has, on top of its
 * batch credits, as many <em>fair credits</em> as the pool's {@code maxConcurrentSequences} (a batch holds at least
 * one sequence and an instance runs at most that many at once, so more streams would only wait inside the engine).
 * Only interactive work of a tenant below its weighted share of the model's in-flight interactive <em>work</em>
 * (prompt + output budget tokens; {@link io.inferq.dispatcher.fairness.InFlightWork#belowShare}, other tenants
 * holding some) may take one: such a group is ready at once ({@link GroupSelection}), its batch takes only the jobs of
 * its tenants below their share, goes to one of the pools that has a free fair credit now (never held for a busier
 * pool), and is {@link EnginePriority#HIGH}. Batches on fair credits do not count against the pool's batch credits, so
 * the flooding tenant keeps exactly the credits it had and its work stays in the queue (late binding, fair order). A
 * tenant alone, the batch lane and fair sharing off take no fair credit. A fair credit returns when its batch
 * finishes ({@link #batchFinished}). With a shared {@link io.inferq.dispatcher.credits.CreditGate} the gate's
 * per-instance limit still applies to them.
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
 *
 * <h2>Parts</h2>
 * This class coordinates one decision; each concern lives in a package-private class of its own: {@link QueuedJobs}
 * (the queued jobs per group, their accounting and the deadline index), {@link AdmissionControl} (admission, predicted
 * wait and expiry), {@link GroupSelection} (readiness, promotion, the next group and its service order),
 * {@link Headroom} (reserved credits and the credits each tenant holds), {@link BatchForming} (first fit and
 * prefix-affinity ranking) and {@link ServiceEstimates} (cached prefix tokens and service time of a candidate batch).
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

    private final DispatchConfig config;
    private final FairnessConfig fairness;
    private final RoutingPolicy policy;
    private final PrefixLocator prefixes;
    private final Map<String, PoolLedger> pools = new LinkedHashMap<>();
    private final Map<String, ModelState> models = new TreeMap<>();
    /** The queued jobs and their index of deadlines. */
    private final QueuedJobs queue;
    private final TreeMap<GroupKey, BucketQueue> groups;
    /** Every queued job, in enqueue order. */
    private final LinkedHashMap<String, BucketQueue> groupOfJob;
    private final Map<String, Long> tenantTokens;
    private final int[] queuedByLane;
    private final TreeMap<Long, Integer> deadlines;
    private final AdmissionControl admission;
    private final GroupSelection selection;
    private final Headroom headroom;
    private final ServiceEstimates estimates;
    private final BatchForming forming;
    private long batchSequence;
    /**
     * Random per scheduler, so batch ids never repeat across restarts or between dispatcher processes: a batch id
     * is the owner of the terminal claims its worker takes, and a reused id would let a job run twice.
     */
    private final String batchTag = Long.toString(java.util.concurrent.ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36 * 36,
            36L * 36 * 36 * 36 * 36 * 36 * 36), 36);
    private final DispatchMetrics metrics;
    private boolean calibrate = true;
    /** The engine priority of each dispatched batch (continuous batching with priority; see {@link EnginePriorities}). */
    private final EnginePriorities enginePriorities;
    /** Paces the batch lane by the interactive intake delay; null: not paced. */
    private BatchLaneYield batchYield;

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
        this.queue = new QueuedJobs(config, fairness, models, metrics);
        this.groups = queue.groups;
        this.groupOfJob = queue.groupOfJob;
        this.tenantTokens = queue.tenantTokens;
        this.queuedByLane = queue.queuedByLane;
        this.deadlines = queue.deadlines;
        this.admission = new AdmissionControl(config, fairness, models, queue, metrics);
        this.selection = new GroupSelection(config, fairness, models, queue);
        io.inferq.dispatcher.fairness.InFlightWork interactiveWork = new io.inferq.dispatcher.fairness.InFlightWork(fairness);
        this.enginePriorities = new EnginePriorities(fairness, interactiveWork);
        this.headroom = new Headroom(config, fairness, models, selection, metrics, interactiveWork);
        selection.sendAtOnce = g -> headroom.sendsOnFairCredit(g) || headroom.sendsOnReserve(g);
        this.estimates = new ServiceEstimates(config, prefixes, this.pools);
        this.forming = new BatchForming(config, fairness, prefixes, models, headroom, estimates);
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
        Admission a = admission.check(job, nowMs);
        if (a instanceof Admission.Rejected r) {
            metrics.rejected(r.code(), job.lane());
        }
        return a;
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
        queue.add(job, m);
        if (m.seenJobs++ == 0) {
            m.meanPrompt = job.promptTokens();
            m.meanOutput = job.maxTokens();
        } else {
            m.meanPrompt += EWMA_ALPHA * (job.promptTokens() - m.meanPrompt);
            m.meanOutput += EWMA_ALPHA * (job.maxTokens() - m.meanOutput);
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
        QueuedJob removed = queue.remove(jobId);
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
        return queue.remove(jobId) != null;
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
        return admission.expireDue(nowMs);
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
        boolean affinity = forming.affinity();
        headroom.startDecision(nowMs);
        while (true) {
            BucketQueue g = selection.nextReadyGroup(nowMs, held);
            if (g == null) {
                headroom.restricted = false;
                headroom.onFairCredits = false;
                return plans;
            }
            if (g.key.lane() == JobLane.BATCH && batchYield != null && !batchYield.open(nowMs)) {
                held.add(g); // the batch lane yields to interactive intake (BatchLaneYield); woken when it reopens
                continue;
            }
            ModelState m = models.get(g.key.model());
            QueuedJob head = g.head();
            headroom.restricted = headroom.headroomRestricted(g, m, nowMs);
            Set<String> overShare = null;
            Set<String> fairTenants = headroom.fairCreditTenants(g, m);
            headroom.onFairCredits = !fairTenants.isEmpty();
            if (headroom.onFairCredits) {
                // a batch of the group's tenants below their share goes on a fair credit; the others' jobs stay queued
                headroom.restricted = false;
                if (fairTenants.size() < g.byTenant.size()) {
                    overShare = new java.util.HashSet<>(g.byTenant.keySet());
                    overShare.removeAll(fairTenants);
                }
            }
            List<PoolLedger> candidates = new ArrayList<>();
            boolean anyCredit = false;
            boolean anyReserved = false;
            int cmpTokens = Integer.MAX_VALUE;
            int cmpSeqs = Integer.MAX_VALUE;
            for (PoolLedger p : m.pools) {
                // on fair credits only pools that can take the batch now: holding it for a busier pool would make it wait
                if (p.profile.maxBatchTokens() >= head.promptTokens() && (!headroom.onFairCredits || headroom.fairFree(p) > 0)) {
                    candidates.add(p);
                    anyCredit |= headroom.usableCredits(p) > 0;
                    anyReserved |= p.freeCredits() > 0;
                    cmpTokens = Math.min(cmpTokens, p.profile.maxBatchTokens());
                    cmpSeqs = Math.min(cmpSeqs, p.profile.maxConcurrentSequences());
                }
            }
            if (!anyCredit && anyReserved && headroom.restricted && !headroom.onFairCredits && !headroom.laneRestricted(g, m, nowMs)) {
                // the next tenant is at its share: the reserve goes to the group's tenants below theirs, if any
                Set<String> over = headroom.overShareTenants(g, m, nowMs);
                if (over.size() < g.byTenant.size()) {
                    overShare = over;
                    headroom.restricted = false;
                    anyCredit = true;
                }
            }
            if (!anyCredit) {
                if (anyReserved) {
                    headroom.heldByHeadroom(m, nowMs);
                }
                held.add(g);
                continue;
            }
            int maxSeqs = 1;
            for (PoolLedger p : candidates) {
                maxSeqs = Math.max(maxSeqs, p.profile.maxConcurrentSequences());
            }
            // both first fits below look at most 2 × sequence cap jobs ahead; affinity at most LOOKAHEAD × cap
            List<QueuedJob> order = selection.serviceOrder(g, Math.max(2, AFFINITY_LOOKAHEAD_FACTOR) * maxSeqs, overShare);
            List<RouteOption> byPrefix = affinity
                    ? forming.affinityOptions(g, order, candidates, cmpTokens, cmpSeqs, nowMs, prefixMemo) : null;
            boolean byAffinity = byPrefix != null;
            List<RouteOption> options = byAffinity ? byPrefix : new ArrayList<>(candidates.size());
            if (!byAffinity) {
                List<QueuedJob> comparison = BatchForming.fit(order, cmpTokens, cmpSeqs);
                for (PoolLedger p : candidates) {
                    List<QueuedJob> jobs = List.of();
                    if (headroom.usableCredits(p) > 0) {
                        BatchForming.DeadlineFit fit = forming.deadlineFit(p, nowMs);
                        String poolId = p.profile.poolId();
                        jobs = BatchForming.fit(order, p.profile.maxBatchTokens(), p.profile.maxConcurrentSequences(),
                                fit == null ? j -> true : j -> fit.admit(j, forming.uncachedTokens(j,
                                        estimates.cachedTokens(List.of(j), poolId, prefixMemo))));
                    }
                    long cached = estimates.cachedTokens(comparison, p.profile.poolId(), prefixMemo);
                    options.add(new RouteOption(p.profile, jobs, headroom.usableCredits(p), p.totalCredits(),
                            p.inFlightBatches(), p.inFlightSequences(), p.aheadSeconds(nowMs),
                            estimates.serviceSeconds(p.profile, comparison, cached), cached));
                }
            }
            // a pool with a usable credit that can take no job of the window in time is no option for this group now
            // (deadline-aware batch sizing): neither chosen nor held for
            if (forming.deadlineSizing) {
                options.removeIf(o -> o.jobs().isEmpty() && headroom.usableCredits(pools.get(o.poolId())) > 0);
                // nor is a busy pool worth holding the group for when its head would miss its deadline there anyway
                QueuedJob first = order.isEmpty() ? null : order.get(0);
                if (first != null && first.deadlineAtMs() != null) {
                    options.removeIf(o -> !o.hasCredit() && forming.missesIfHeld(pools.get(o.poolId()), o.aheadSeconds(),
                            first, estimates.cachedTokens(List.of(first), o.poolId(), prefixMemo), nowMs));
                }
            }
            if (options.isEmpty()) {
                held.add(g);
                continue;
            }
            Optional<RouteOption> choice = policy.choose(List.copyOf(options), nowMs);
            RouteOption chosen = choice.flatMap(c -> options.stream()
                    .filter(o -> o.poolId().equals(c.poolId())).findFirst()).orElse(null);
            if (chosen == null || !chosen.hasCredit()) {
                held.add(g);
                continue;
            }
            if (byAffinity && BatchForming.recordSkips(g, order, chosen.jobs())) {
                metrics.formedByAffinity(chosen.poolId());
            }
            BatchPlan plan = dispatch(g, pools.get(chosen.poolId()), chosen.jobs(), nowMs, prefixMemo);
            if (plan != null) {
                plans.add(plan);
                if (g.key.lane() == JobLane.BATCH && batchYield != null) {
                    batchYield.dispatched(plan.jobs().size(), nowMs);
                }
            }
        }
    }

    /**
     * Free credits of the pool that, at the last decision, only work below its share could take (0 when no
     * interactive work was recent and fewer than two tenants were active).
     */
    public int reservedCredits(String poolId) {
        PoolLedger p = ledger(poolId);
        return headroom.reservedCredits(p);
    }

    /** @return the plan, or null if a shared credit gate refused every instance of the pool (nothing changed) */
    private BatchPlan dispatch(BucketQueue g, PoolLedger pool, List<QueuedJob> jobs, long nowMs,
                               Map<String, Map<String, Integer>> memo) {
        String batchId = pool.profile.poolId() + "-" + batchTag + "-" + (batchSequence + 1);
        long work = 0;
        for (QueuedJob j : jobs) {
            work += j.quotaTokens();
        }
        CalibratedServiceTime.Estimate prior = estimates.priorEstimate(pool, jobs, estimates.cachedTokens(jobs, pool.profile.poolId(), memo));
        double est = pool.model.seconds(prior);
        long cachedAll = estimates.cachedTokens(jobs, pool.profile.poolId(), memo);
        long uncached = 0;
        for (QueuedJob j : jobs) {
            uncached += j.promptTokens();
        }
        uncached = Math.max(0, uncached - Math.round(config.prefixOverlapWeight() * cachedAll));
        // before the batch is in flight: the decode steps it will share its prefill with are the others'
        double step = BatchForming.DeadlineFit.decodeStepSeconds(pool);
        double stretch = BatchForming.DeadlineFit.stretch(pool);
        double prefill = stretch * BatchForming.DeadlineFit.prefillSeconds(pool, uncached);
        int instance = pool.add(batchId, jobs.size(), work, est, nowMs, estimates.cachedBlocksByInstance(pool, jobs), prior);
        if (instance < 0) {
            pool.gateRefusedUntilMs = nowMs + GATE_RETRY_MS;
            pool.gateRefused = true;
            return null;
        }
        batchSequence++;
        pool.bookPrefill(instance, batchId, prefill, stretch * prior.priorPrefillSeconds(), step, nowMs);
        if (headroom.onFairCredits) {
            pool.aside(batchId); // a stream beside the instance's batches: not its backlog, not its calibration
            headroom.fairCreditTaken(batchId, pool.profile.poolId());
        }
        VirtualTokenCounter vtc = models.get(g.key.model()).fair[g.key.lane().ordinal()];
        for (QueuedJob j : jobs) {
            // charged before it leaves the backlog, so a tenant that leaves takes its served counter with it
            long cached = estimates.cachedTokens(List.of(j), pool.profile.poolId(), memo);
            vtc.charge(j.tenant(), j.promptTokens() - cached, j.maxTokens());
            queue.dispatched(g, j);
        }
        headroom.batchDispatched(batchId, g, jobs, nowMs);
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
        return batchFinished(poolId, batchId, nowMs, ranAsEstimated, Long.MIN_VALUE);
    }

    /**
     * As {@link #batchFinished(String, String, long, boolean)}; {@code prefilledAtMs} is when the batch's last sequence
     * got its first token (epoch ms, on the clock of {@code nowMs}; {@link Long#MIN_VALUE}: unknown). With it, the
     * batch's prefill — from its send, or from the end of the prefill sent to its instance before it, to that first
     * token — calibrates how long the pool's prompts take to their first token
     * ({@link CalibratedServiceTime#prefillLatencyScale}), which deadline-aware batch sizing predicts with.
     */
    public boolean batchFinished(String poolId, String batchId, long nowMs, boolean ranAsEstimated, long prefilledAtMs) {
        PoolLedger p = pools.get(poolId);
        boolean finished = p != null && p.finish(batchId, nowMs, ranAsEstimated && calibrate, prefilledAtMs);
        if (finished) {
            enginePriorities.finished(batchId);
            headroom.batchFinished(batchId);
        }
        return finished;
    }

    /**
     * Turns deadline-aware batch sizing on (the default) or off. On, a batch for a pool takes a job only if the job's
     * predicted first token on that pool — the prefill still owed to batches sent to the instance before, plus the
     * batch's prefill up to and including the job, stretched by the decode steps it shares iterations with — is no
     * later than its deadline (see {@link BatchForming.DeadlineFit}); a job left out stays queued for another pool or
     * batch, and expires at its deadline if none can take it in time. A pool with a free credit that can take no job
     * of the group in time is then not offered to the policy for that group. Off, batches are first fits as before.
     */
    public void setDeadlineBatchSizing(boolean enabled) {
        forming.deadlineSizing = enabled;
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
     * What calibration has learned of a pool so far: observed ÷ configured prefill and decode time (1 = the roofline is
     * right), the number of batches observed, and {@code overall}: the calibrated ÷ the configured time of the pool's
     * recent mean batch ({@link CalibratedServiceTime#overallScale}), the figure routing acts on when the split between
     * prefill and decode is poorly identified; {@code firstToken}: observed ÷ predicted time to a batch's first tokens
     * ({@link CalibratedServiceTime#prefillLatencyScale}), what deadline-aware batch sizing predicts first tokens with.
     */
    public record ServiceTimeScales(double prefill, double decode, long observations, double overall, double firstToken) {
    }

    /** @return the pool's learned {@link ServiceTimeScales} (1, 1, 0 before any batch finished) */
    public ServiceTimeScales serviceTimeScales(String poolId) {
        CalibratedServiceTime m = ledger(poolId).model;
        return new ServiceTimeScales(m.prefillScale(), m.decodeScale(), m.observations(), m.overallScale(),
                m.prefillLatencyScale());
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
     * Paces the batch lane from now on ({@link BatchLaneYield}): a batch-lane group is held while {@code yield} is
     * closed, and {@link #nextDecisionAtMs} includes the time it reopens while batch-lane work is queued. The caller
     * feeds it the interactive intake samples. {@code null} stops pacing.
     */
    public void yieldBatchLane(BatchLaneYield yield) {
        this.batchYield = yield;
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
            next = earliestAfter(next, enq + selection.maxWait(g.key.lane()), nowMs);
            if (g.key.lane() == JobLane.BATCH) {
                next = earliestAfter(next, selection.promotedAtMs(g), nowMs);
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
            next = earliestAfter(next, headroom.headroomLapseMs, nowMs);
        }
        if (batchYield != null && queuedByLane[JobLane.BATCH.ordinal()] > 0) {
            next = earliestAfter(next, batchYield.opensAtMs(nowMs), nowMs);
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
}
