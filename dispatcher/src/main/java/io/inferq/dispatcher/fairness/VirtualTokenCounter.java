package io.inferq.dispatcher.fairness;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The Virtual Token Counter of one fairness domain (Sheng et al., "Fairness in Serving Large Language Models",
 * OSDI 2024): per tenant, the weighted service it received divided by its weight. The dispatcher keeps one per
 * (model, lane) — the pools of a model are the shared resource, and each lane is shared fairly on its own — and
 * serves next the backlogged tenant with the lowest counter.
 *
 * <h2>Service</h2>
 * A job is charged when it is dispatched: {@link FairnessConfig#prefillWeight()} × its prompt tokens that the chosen
 * pool does not hold in its KV cache, plus {@link FairnessConfig#decodeWeight()} × its output budget (the
 * scheduler's decode estimate); the tenant's counter rises by that service divided by the tenant's weight.
 *
 * <h2>Idle tenants bank no credit</h2>
 * A tenant becomes backlogged when its first job of the domain is queued. Its counter is then lifted to the lowest
 * counter of the tenants already backlogged, or, when none is, to the counter of the tenant that last left the
 * backlog — so time spent idle is never saved up for a later burst, and a new tenant starts level with the others.
 *
 * <h2>Unfairness bound</h2>
 * Selecting the lowest counter and charging one job at a time keeps the counters of any two tenants that stay
 * backlogged (and whose work is eligible) within one job's charge of each other: for tenants f, g with weights
 * w<sub>f</sub>, w<sub>g</sub>, |W<sub>f</sub>/w<sub>f</sub> − W<sub>g</sub>/w<sub>g</sub>| ≤ max job service ÷
 * min weight, plus what batching adds (a batch is charged as a whole, its jobs in fair order) and, with prefix
 * affinity, at most {@link FairnessConfig#affinityBudgetTokens()}: affinity may take a job ahead of its fair turn
 * only while its tenant is within that budget of the lowest backlogged counter ({@link #withinAffinityBudget}).
 *
 * <h2>Threading</h2>
 * Not thread-safe. Confined to the thread (or Vert.x context) of its {@code DispatchScheduler}; the metric gauges read
 * it from the scrape thread and may see a stale value, which is all a gauge needs. Pure bookkeeping: no clock, no
 * I/O — only events (queued, left, charged) move it, so it replays the same in virtual time.
 */
public final class VirtualTokenCounter {

    /** Per tenant: counter, backlog and service. Package-private so tests can look inside. */
    static final class TenantState {
        final double weight;
        double counter;
        long queuedJobs;
        long queuedWork;
        double service;

        TenantState(double weight) {
            this.weight = weight;
        }
    }

    private final FairnessConfig config;
    private final Map<String, TenantState> tenants = new HashMap<>();
    private int backlogged;
    /** Counter of the tenant that most recently left the backlog: the lift when a tenant returns to an empty queue. */
    private double lastLeftCounter;

    public VirtualTokenCounter(FairnessConfig config) {
        this.config = Objects.requireNonNull(config, "config must not be null");
    }

    public FairnessConfig config() {
        return config;
    }

    /**
     * A job of {@code tenant} entered the queue. If the tenant had none queued, its counter is lifted (see the class
     * comment).
     *
     * @param work the job's work for wait estimates ({@link #fairWorkAhead}), in the caller's unit
     * @return whether the tenant just became backlogged
     */
    public boolean queued(String tenant, long work) {
        TenantState s = state(tenant);
        boolean became = s.queuedJobs == 0;
        if (became) {
            double floor = backlogged > 0 ? minBackloggedCounter() : lastLeftCounter;
            s.counter = Math.max(s.counter, floor);
            backlogged++;
        }
        s.queuedJobs++;
        s.queuedWork += work;
        return became;
    }

    /**
     * A job of {@code tenant} left the queue (dispatched, cancelled, expired or withdrawn), with the same work it was
     * queued with. Unknown tenants and tenants with nothing queued are ignored.
     */
    public void left(String tenant, long work) {
        TenantState s = tenants.get(tenant);
        if (s == null || s.queuedJobs == 0) {
            return;
        }
        s.queuedJobs--;
        s.queuedWork = Math.max(0, s.queuedWork - work);
        if (s.queuedJobs == 0) {
            s.queuedWork = 0;
            backlogged--;
            lastLeftCounter = s.counter;
        }
    }

    /**
     * Charges {@code tenant} for one dispatched job.
     *
     * @return the weighted service charged (before dividing by the tenant's weight)
     */
    public double charge(String tenant, long uncachedPromptTokens, long outputTokens) {
        TenantState s = state(tenant);
        double service = config.serviceOf(Math.max(0, uncachedPromptTokens), Math.max(0, outputTokens));
        s.service += service;
        s.counter += service / s.weight;
        return service;
    }

    /** What charging a job of {@code prompt}, {@code output} tokens would add to {@code tenant}'s counter. */
    public double counterIncrement(String tenant, long uncachedPromptTokens, long outputTokens) {
        return config.serviceOf(Math.max(0, uncachedPromptTokens), Math.max(0, outputTokens)) / config.weightOf(tenant);
    }

    /** The tenant's virtual token counter (0 for a tenant never seen). */
    public double counter(String tenant) {
        TenantState s = tenants.get(tenant);
        return s == null ? 0 : s.counter;
    }

    /** Weighted service the tenant received in this domain. */
    public double service(String tenant) {
        TenantState s = tenants.get(tenant);
        return s == null ? 0 : s.service;
    }

    /** Jobs the tenant has queued in this domain. */
    public long backlog(String tenant) {
        TenantState s = tenants.get(tenant);
        return s == null ? 0 : s.queuedJobs;
    }

    /** Work the tenant has queued in this domain, in the unit it was queued with. */
    public long queuedWork(String tenant) {
        TenantState s = tenants.get(tenant);
        return s == null ? 0 : s.queuedWork;
    }

    /** Tenants with at least one queued job. */
    public int backloggedTenants() {
        return backlogged;
    }

    /** Every tenant seen, in no particular order. */
    public List<String> tenants() {
        return new ArrayList<>(tenants.keySet());
    }

    /** The lowest counter among backlogged tenants, or {@link Double#NaN} if none is backlogged. */
    public double minBackloggedCounter() {
        double min = Double.NaN;
        for (TenantState s : tenants.values()) {
            if (s.queuedJobs > 0 && !(s.counter >= min)) {
                min = s.counter;
            }
        }
        return min;
    }

    /**
     * Whether prefix affinity may take a job of {@code tenant} ahead of its fair turn: the tenant's counter is at most
     * {@link FairnessConfig#affinityBudgetTokens()} above the lowest backlogged counter.
     */
    public boolean withinAffinityBudget(String tenant) {
        double min = minBackloggedCounter();
        return Double.isNaN(min) || counter(tenant) - min <= config.affinityBudgetTokens();
    }

    /**
     * Estimated work served before a job of {@code tenant} completes, when the tenant has {@code ownWork} queued up
     * to and including that job and every backlogged tenant is served in proportion to its weight (the fluid limit of
     * the counter): {@code Σ_u min(W_u, ownWork × w_u ÷ w_tenant)} over the backlogged tenants u, where W_u is u's
     * queued work (and the tenant itself contributes {@code ownWork}). In the unit the work was queued with. Cost:
     * O(tenants); use {@link #snapshot()} for many jobs.
     */
    public double fairWorkAhead(String tenant, long ownWork) {
        double x = ownWork / config.weightOf(tenant);
        double sum = ownWork;
        for (Map.Entry<String, TenantState> e : tenants.entrySet()) {
            TenantState s = e.getValue();
            if (s.queuedJobs > 0 && !e.getKey().equals(tenant)) {
                sum += Math.min(s.queuedWork, x * s.weight);
            }
        }
        return sum;
    }

    /** A frozen copy of the backlog for many {@link FairWork#ahead} queries at O(log tenants) each. */
    public FairWork snapshot() {
        List<TenantState> live = new ArrayList<>();
        for (TenantState s : tenants.values()) {
            if (s.queuedJobs > 0) {
                live.add(s);
            }
        }
        live.sort((a, b) -> Double.compare(a.queuedWork / a.weight, b.queuedWork / b.weight));
        int n = live.size();
        double[] ratio = new double[n];
        double[] workPrefix = new double[n + 1];
        double[] weightSuffix = new double[n + 1];
        for (int i = 0; i < n; i++) {
            ratio[i] = live.get(i).queuedWork / live.get(i).weight;
            workPrefix[i + 1] = workPrefix[i] + live.get(i).queuedWork;
        }
        for (int i = n - 1; i >= 0; i--) {
            weightSuffix[i] = weightSuffix[i + 1] + live.get(i).weight;
        }
        return new FairWork(config, ratio, workPrefix, weightSuffix);
    }

    /** {@link #fairWorkAhead} over a frozen backlog. Immutable. */
    public static final class FairWork {
        private final FairnessConfig config;
        private final double[] ratio;
        private final double[] workPrefix;
        private final double[] weightSuffix;

        FairWork(FairnessConfig config, double[] ratio, double[] workPrefix, double[] weightSuffix) {
            this.config = config;
            this.ratio = ratio;
            this.workPrefix = workPrefix;
            this.weightSuffix = weightSuffix;
        }

        /**
         * As {@link VirtualTokenCounter#fairWorkAhead}, for a tenant that was backlogged when the snapshot was taken
         * ({@code ownWork} ≤ its queued work).
         */
        public double ahead(String tenant, long ownWork) {
            double x = ownWork / config.weightOf(tenant);
            int k = Arrays.binarySearch(ratio, x);
            if (k < 0) {
                k = -k - 1;
            } else {
                while (k < ratio.length && ratio[k] <= x) {
                    k++;
                }
            }
            return workPrefix[k] + x * weightSuffix[k];
        }
    }

    private TenantState state(String tenant) {
        Objects.requireNonNull(tenant, "tenant must not be null");
        return tenants.computeIfAbsent(tenant, t -> new TenantState(config.weightOf(t)));
    }

    /** For tests: the tenant's state, or null. */
    TenantState stateOf(String tenant) {
        return tenants.get(tenant);
    }
}
