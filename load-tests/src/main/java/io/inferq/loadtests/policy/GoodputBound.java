package io.inferq.loadtests.policy;

import io.inferq.dispatcher.PoolProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.engine.ContinuousBatchingEngine;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An upper bound on the good jobs <em>any</em> schedule — online or clairvoyant — can get from a trace on the
 * {@link PolicySimulator}'s fleet and engine model, so a policy's goodput can be judged against what is achievable
 * rather than against the nominal capacity.
 *
 * <h2>The relaxation</h2>
 * For job {@code j} (arrival {@code a_j}, prompt {@code in_j}, output {@code out_j}) and pool {@code p}, a lower bound
 * on the instance-time {@code j} occupies in any batch, split into its prefill part and its decode part:
 * <ul>
 *   <li>{@code pre_jp} = its own prompt's prefill, with at most {@code cmax_j} tokens read from a cache instead (each
 *       read token is charged the roofline's KV transfer, as the engine model does; the lesser of both ends is taken);
 *       {@code cmax_j} = its leading blocks that occur in another job arriving no later than {@code a_j} + TTFT SLO
 *       (an infinite cache shared by every pool), at most {@code in_j − 1};</li>
 *   <li>{@code dec_jp} = for each of its {@code out_j − 1} decode steps, the weight read shared by at most the pool's
 *       sequence cap, plus the read of its own context {@code in_j + k} at step {@code k}.</li>
 * </ul>
 * A batch's prefill is the sum of its jobs' prefills and a decode step's time is the weight read plus the sum of its
 * active sequences' contexts, so the parts of the jobs of a batch never add up to more than the batch's time at any
 * moment, and an instance runs one batch at a time. Job {@code j} is <em>good</em> only if its first token comes by
 * {@code a_j + TTFT} and its decode steps average at most the TPOT SLO, so its prefill part lies in
 * {@code [a_j, a_j + TTFT]} and its decode part in {@code [a_j, a_j + TTFT + (out_j − 1) TPOT]}; it cannot be good on
 * {@code p} at all if its prompt exceeds the pool's batch budget, if {@code pre_jp > TTFT}, or if its decode steps
 * alone average more than the TPOT SLO. Time is cut into slots of {@code Δ}; a part may use any slot its window
 * overlaps (a relaxation), and slot {@code k} of pool {@code p} holds {@code instances_p × Δ}. The LP
 * <pre>
 *   max Σ_jp x_jp   s.t.   Σ_p x_jp ≤ 1,   parts of x_jp × (pre_jp, dec_jp) spread over their windows' slots,
 *                          Σ of what lands in slot (p, k) ≤ instances_p × Δ,   x ≥ 0
 * </pre>
 * is then at least the good jobs of every schedule of the engine model (static batches, one at a time per instance,
 * batch limits, any routing, any order, any knowledge of the future). It holds as well for the continuous-batching
 * engine model ({@link #of}), whose iteration is additive in the same way (prefill chunks plus one decode step over the
 * decoding sequences' contexts) and which runs one iteration at a time.
 *
 * <h2>Computing it</h2>
 * By weak duality, for <em>any</em> prices {@code λ_pk ≥ 0},
 * <pre>
 *   LP ≤ U(λ) = Σ_pk instances_p Δ λ_pk + Σ_j max(0, max_p [1 − pre_jp min_{k ∈ W^pre_j} λ_pk − dec_jp min_{k ∈ W^dec_j} λ_pk])
 * </pre>
 * so every {@code U(λ)} is a valid bound, however well {@code λ} was chosen; projected subgradient steps lower it and
 * the least value seen is reported. A greedy fractional schedule of the same LP (cheapest jobs first, each part into
 * the earliest slots of its window with room) gives a value {@code L ≤ LP}; {@code U − L} says how far the reported
 * bound can be from the LP's optimum.
 */
public final class GoodputBound {

    /**
     * @param bound        the upper bound on good jobs ({@code U})
     * @param lpLower      a feasible value of the LP ({@code L}); the LP optimum lies in [lpLower, bound]
     * @param feasibleJobs jobs that could be good on some pool if they ran alone
     * @param jobs         jobs in the trace
     * @param spanSeconds  the trace's span (goodput = good jobs ÷ span)
     */
    public record Result(double bound, double lpLower, int feasibleJobs, int jobs, double spanSeconds) {
        /** The bound in good jobs per second of span. */
        public double jobsPerSecond() {
            return bound / spanSeconds;
        }

        public String describe() {
            return String.format(Locale.ROOT, "bound %.2f jobs/s (%.0f of %d jobs; LP ≥ %.0f; %d could be good alone)",
                    jobsPerSecond(), bound, jobs, lpLower, feasibleJobs);
        }
    }

    /** A pool as the bound sees it. */
    public record PoolSpec(String id, int instances, RooflineModel roofline, int budget, int seqCap) {
    }

    private final List<PoolSpec> pools;
    private final double ttftSlo;
    private final double tpotSlo;
    private final int blockTokens;
    private final double slotSeconds;
    private final int iterations;

    public GoodputBound(List<PoolSpec> pools, double ttftSlo, double tpotSlo, int blockTokens, double slotSeconds,
                        int iterations) {
        this.pools = List.copyOf(pools);
        this.ttftSlo = ttftSlo;
        this.tpotSlo = tpotSlo;
        this.blockTokens = blockTokens;
        this.slotSeconds = slotSeconds;
        this.iterations = iterations;
    }

    /**
     * The bound for {@code sim}'s fleet, SLOs and instance model, slots of {@code slotSeconds}, at most 600 subgradient
     * steps. A decode step's weight read is shared by at most the pool's sequence cap (static batches) or, with the
     * continuous engine model, by at most the engine's running-sequence cap ({@link ContinuousBatchingEngine.Limits#of}):
     * an engine iteration costs its prefill chunks plus one decode step over its decoding sequences' contexts, so the
     * same per-job lower bounds hold iteration by iteration, and an instance runs one iteration at a time.
     */
    public static GoodputBound of(PolicySimulator sim, double slotSeconds) {
        List<PoolSpec> specs = new ArrayList<>();
        boolean engine = sim.instanceModel() == PolicySimulator.InstanceModel.CONTINUOUS;
        for (PoolProfile p : sim.poolProfiles()) {
            RooflineModel r = sim.roofline(p.poolId());
            specs.add(new PoolSpec(p.poolId(), p.instances(), r, p.maxBatchTokens(),
                    engine ? ContinuousBatchingEngine.Limits.of(r).maxRunningSequences() : p.maxConcurrentSequences()));
        }
        PolicySimulator.Settings s = sim.settings();
        return new GoodputBound(specs, s.ttftSloSeconds(), s.tpotSloSeconds(), s.prefixBlockTokens(), slotSeconds, 600);
    }

    /** The bound for {@code trace} (already scaled to its load). */
    public Result compute(List<TraceRequest> trace) {
        int n = trace.size();
        int np = pools.size();
        double span = Math.max(1, trace.get(n - 1).arrivalMs()) / 1000.0;
        int[] cmax = cacheableTokens(trace);
        double[][] pre = new double[n][np];
        double[][] dec = new double[n][np];
        int[] preLo = new int[n];
        int[] preHi = new int[n];
        int[] decHi = new int[n];
        int feasible = 0;
        int slots = 1;
        for (int j = 0; j < n; j++) {
            TraceRequest t = trace.get(j);
            double a = t.arrivalMs() / 1000.0;
            int in = t.inputTokens();
            int steps = Math.max(0, t.outputTokens() - 1);
            preLo[j] = (int) Math.floor(a / slotSeconds);
            preHi[j] = Math.max(preLo[j], lastSlot(a + ttftSlo));
            decHi[j] = Math.max(preHi[j], lastSlot(a + ttftSlo + steps * tpotSlo));
            slots = Math.max(slots, decHi[j] + 1);
            boolean any = false;
            for (int p = 0; p < np; p++) {
                PoolSpec ps = pools.get(p);
                RooflineModel r = ps.roofline();
                double full = r.prefillSeconds(in);
                double cached = r.prefillSeconds(in - cmax[j]) + (cmax[j] == 0 ? 0 : r.kvTransferSecondsForTokens(cmax[j]));
                double prefill = Math.min(full, cached);
                double w = r.decodeStepSeconds(0);
                double kv = r.decodeStepSeconds(1) - w;
                // Σ_{k=1..steps} (in + k) = steps × in + steps (steps + 1) / 2
                double ctx = (double) steps * in + steps * (steps + 1.0) / 2;
                double alone = steps * w + ctx * kv;
                boolean ok = in <= ps.budget() && prefill <= ttftSlo * (1 + 1e-12)
                        && (steps == 0 || alone / steps <= tpotSlo * (1 + 1e-12));
                if (ok) {
                    pre[j][p] = prefill;
                    dec[j][p] = steps * w / ps.seqCap() + ctx * kv;
                    any = true;
                } else {
                    pre[j][p] = Double.NaN;
                }
            }
            feasible += any ? 1 : 0;
        }
        double[][] cap = new double[np][slots];
        for (int p = 0; p < np; p++) {
            Arrays.fill(cap[p], pools.get(p).instances() * slotSeconds);
        }
        double lower = greedy(trace, pre, dec, preLo, preHi, decHi, cap);
        int priced = 0;
        for (int j = 0; j < n; j++) {
            priced = Math.max(priced, preHi[j] + 1);
        }
        double upper = dual(pre, dec, preLo, preHi, decHi, cap, feasible, lower, uniformPrices(pre, dec, cap, priced));
        return new Result(Math.max(upper, lower), lower, feasible, n, span);
    }

    /** The last slot a window ending at {@code end} seconds overlaps (a window ending on a slot edge stops before it). */
    private int lastSlot(double end) {
        return (int) Math.ceil(end / slotSeconds) - 1;
    }

    /** Per job: the most leading-prompt tokens a cache could hold when it runs (see the class doc). */
    private int[] cacheableTokens(List<TraceRequest> trace) {
        // per block: the two earliest arrivals (and the first one's job) among the jobs that contain it
        Map<Long, long[]> first = new HashMap<>();
        for (int j = 0; j < trace.size(); j++) {
            TraceRequest t = trace.get(j);
            for (Long h : t.blockHashes()) {
                long[] e = first.get(h);
                if (e == null) {
                    first.put(h, new long[] {t.arrivalMs(), j, Long.MAX_VALUE});
                } else if (e[1] != j) {
                    if (t.arrivalMs() < e[0]) {
                        e[2] = e[0];
                        e[0] = t.arrivalMs();
                        e[1] = j;
                    } else if (t.arrivalMs() < e[2]) {
                        e[2] = t.arrivalMs();
                    }
                }
            }
        }
        int[] out = new int[trace.size()];
        long window = Math.round(ttftSlo * 1000);
        for (int j = 0; j < trace.size(); j++) {
            TraceRequest t = trace.get(j);
            int blocks = 0;
            for (Long h : t.blockHashes()) {
                long[] e = first.get(h);
                long other = e[1] == j ? e[2] : e[0];
                if (other == Long.MAX_VALUE || other > t.arrivalMs() + window) {
                    break;
                }
                blocks++;
            }
            out[j] = (int) Math.min((long) blocks * blockTokens, Math.max(0, t.inputTokens() - 1L));
        }
        return out;
    }

    /** A feasible LP value: cheapest jobs first, each part into the earliest slots of its window with room. */
    private double greedy(List<TraceRequest> trace, double[][] pre, double[][] dec, int[] preLo, int[] preHi, int[] decHi,
                          double[][] capacity) {
        int n = trace.size();
        double[][] cap = new double[capacity.length][];
        for (int p = 0; p < cap.length; p++) {
            cap[p] = capacity[p].clone();
        }
        Integer[] order = new Integer[n];
        double[] cheapest = new double[n];
        for (int j = 0; j < n; j++) {
            order[j] = j;
            cheapest[j] = Double.POSITIVE_INFINITY;
            for (int p = 0; p < cap.length; p++) {
                if (!Double.isNaN(pre[j][p])) {
                    cheapest[j] = Math.min(cheapest[j], pre[j][p] + dec[j][p]);
                }
            }
        }
        Arrays.sort(order, (x, y) -> Double.compare(cheapest[x], cheapest[y]));
        double total = 0;
        for (int j : order) {
            if (cheapest[j] == Double.POSITIVE_INFINITY) {
                continue;
            }
            double left = 1;
            for (int p = 0; p < cap.length && left > 1e-12; p++) {
                if (Double.isNaN(pre[j][p])) {
                    continue;
                }
                double roomPre = sum(cap[p], preLo[j], preHi[j]);
                double roomAll = sum(cap[p], preLo[j], decHi[j]);
                double x = left;
                if (pre[j][p] > 0) {
                    x = Math.min(x, roomPre / pre[j][p]);
                }
                if (pre[j][p] + dec[j][p] > 0) {
                    x = Math.min(x, roomAll / (pre[j][p] + dec[j][p]));
                }
                if (x <= 1e-12) {
                    continue;
                }
                take(cap[p], preLo[j], preHi[j], x * pre[j][p]);
                double d = x * dec[j][p];
                d = take(cap[p], preLo[j], decHi[j], d);
                if (d > 1e-9) { // cannot happen: roomAll covered both parts
                    throw new IllegalStateException("greedy overfilled a window");
                }
                left -= x;
                total += x;
            }
        }
        return total;
    }

    private static double sum(double[] a, int lo, int hi) {
        double s = 0;
        for (int k = lo; k <= hi; k++) {
            s += a[k];
        }
        return s;
    }

    /** Takes {@code amount} from the earliest slots of [lo, hi]; returns what did not fit. */
    private static double take(double[] a, int lo, int hi, double amount) {
        for (int k = lo; k <= hi && amount > 0; k++) {
            double t = Math.min(a[k], amount);
            a[k] -= t;
            amount -= t;
        }
        return amount;
    }

    /**
     * Starting prices: one price per pool on every slot up to {@code priced} (the last slot any prefill window reaches),
     * 0 after it, each pool's price in turn set to the exact minimiser of {@code U} with the others fixed (a few
     * rounds). With one price per pool a job's parts cost {@code pre × λ_p}, and its decode part too unless its window
     * reaches the unpriced tail.
     */
    private static double[][] uniformPrices(double[][] pre, double[][] dec, double[][] capacity, int priced) {
        int n = pre.length;
        int np = capacity.length;
        double[] price = new double[np];
        double[] cap = new double[np];
        for (int p = 0; p < np; p++) {
            for (int k = 0; k < Math.min(priced, capacity[p].length); k++) {
                cap[p] += capacity[p][k];
            }
        }
        // first all pools together: λ_p = μ ÷ (the pool's mean job cost), μ by golden section (U is convex along the ray)
        double[] unit = new double[np];
        for (int p = 0; p < np; p++) {
            double sum = 0;
            int count = 0;
            for (int j = 0; j < n; j++) {
                if (!Double.isNaN(pre[j][p])) {
                    sum += pre[j][p] + dec[j][p];
                    count++;
                }
            }
            unit[p] = count == 0 || sum == 0 ? 0 : count / sum;
        }
        double lo = 0;
        double hi = 4;
        for (int it = 0; it < 60; it++) {
            double m1 = hi - (hi - lo) / 1.618033988749895;
            double m2 = lo + (hi - lo) / 1.618033988749895;
            if (uniformU(pre, dec, cap, scaled(unit, m1)) <= uniformU(pre, dec, cap, scaled(unit, m2))) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        System.arraycopy(scaled(unit, (lo + hi) / 2), 0, price, 0, np);
        for (int round = 0; round < 8; round++) {
            for (int p = 0; p < np; p++) {
                // U(λ_p) = cap_p λ_p + Σ_j max(A_j, 1 − c_jp λ_p) + const, A_j = best other term (≥ 0): slope
                // cap_p − Σ_{j: λ_p < (1 − A_j) ÷ c_jp} c_jp; the minimiser is where the slope turns non-negative
                List<double[]> breaks = new ArrayList<>();
                for (int j = 0; j < n; j++) {
                    if (Double.isNaN(pre[j][p])) {
                        continue;
                    }
                    double a = 0;
                    for (int q = 0; q < np; q++) {
                        if (q != p && !Double.isNaN(pre[j][q])) {
                            a = Math.max(a, 1 - (pre[j][q] + dec[j][q]) * price[q]);
                        }
                    }
                    double c = pre[j][p] + dec[j][p];
                    if (a < 1 && c > 0) {
                        breaks.add(new double[] {(1 - a) / c, c});
                    }
                }
                breaks.sort((x, y) -> Double.compare(y[0], x[0]));
                double slopeMass = 0;
                double best = 0;
                for (double[] b : breaks) {
                    slopeMass += b[1];
                    if (slopeMass >= cap[p]) {
                        best = b[0];
                        break;
                    }
                }
                price[p] = best;
            }
        }
        double[][] lambda = new double[np][capacity[0].length];
        for (int p = 0; p < np; p++) {
            Arrays.fill(lambda[p], 0, Math.min(priced, lambda[p].length), price[p]);
        }
        return lambda;
    }

    private static double[] scaled(double[] v, double f) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] * f;
        }
        return out;
    }

    /** {@code U} with one price per pool charged on both parts (the objective {@link #uniformPrices} minimises). */
    private static double uniformU(double[][] pre, double[][] dec, double[] cap, double[] price) {
        double u = 0;
        for (int p = 0; p < cap.length; p++) {
            u += cap[p] * price[p];
        }
        for (int j = 0; j < pre.length; j++) {
            double best = 0;
            for (int p = 0; p < cap.length; p++) {
                if (!Double.isNaN(pre[j][p])) {
                    best = Math.max(best, 1 - (pre[j][p] + dec[j][p]) * price[p]);
                }
            }
            u += best;
        }
        return u;
    }

    /** The least {@code U(λ)} over projected subgradient steps from {@code start}. */
    private double dual(double[][] pre, double[][] dec, int[] preLo, int[] preHi, int[] decHi, double[][] capacity,
                        int feasible, double lower, double[][] start) {
        int n = pre.length;
        int np = capacity.length;
        int slots = capacity[0].length;
        double[][] lambda = start;
        double best = feasible;
        double theta = 1;
        int sinceBest = 0;
        double[][] g = new double[np][slots];
        MinTable[] tables = new MinTable[np];
        for (int it = 0; it < iterations; it++) {
            for (int p = 0; p < np; p++) {
                tables[p] = new MinTable(lambda[p]);
            }
            double u = 0;
            for (int p = 0; p < np; p++) {
                for (int k = 0; k < slots; k++) {
                    u += capacity[p][k] * lambda[p][k];
                    g[p][k] = capacity[p][k];
                }
            }
            for (int j = 0; j < n; j++) {
                double bestTerm = 0;
                int bp = -1;
                int bkPre = -1;
                int bkDec = -1;
                for (int p = 0; p < np; p++) {
                    if (Double.isNaN(pre[j][p])) {
                        continue;
                    }
                    int kPre = tables[p].argmin(preLo[j], preHi[j]);
                    int kDec = tables[p].argmin(preLo[j], decHi[j]);
                    double term = 1 - pre[j][p] * lambda[p][kPre] - dec[j][p] * lambda[p][kDec];
                    if (term > bestTerm) {
                        bestTerm = term;
                        bp = p;
                        bkPre = kPre;
                        bkDec = kDec;
                    }
                }
                if (bp >= 0) {
                    u += bestTerm;
                    g[bp][bkPre] -= pre[j][bp];
                    g[bp][bkDec] -= dec[j][bp];
                }
            }
            if (u < best - 1e-9) {
                best = u;
                sinceBest = 0;
            } else if (++sinceBest >= 20) {
                theta /= 2;
                sinceBest = 0;
            }
            double norm = 0;
            for (int p = 0; p < np; p++) {
                for (int k = 0; k < slots; k++) {
                    // projected: a zero price with positive slack cannot go lower
                    if (!(lambda[p][k] == 0 && g[p][k] > 0)) {
                        norm += g[p][k] * g[p][k];
                    }
                }
            }
            if (norm == 0 || best - lower <= 1e-6 * Math.max(1, best)) {
                break;
            }
            // Polyak step toward the greedy's value (the optimum lies between lower and best)
            double step = theta * (u - lower) / norm;
            for (int p = 0; p < np; p++) {
                for (int k = 0; k < slots; k++) {
                    lambda[p][k] = Math.max(0, lambda[p][k] - step * g[p][k]);
                }
            }
        }
        return best;
    }

    /** Range-minimum (argmin) queries over a fixed array: a sparse table. */
    private static final class MinTable {
        private final double[] v;
        private final int[][] idx;

        MinTable(double[] v) {
            this.v = v;
            int n = v.length;
            int levels = 1;
            while ((1 << levels) <= n) {
                levels++;
            }
            idx = new int[levels][];
            idx[0] = new int[n];
            for (int i = 0; i < n; i++) {
                idx[0][i] = i;
            }
            for (int l = 1; l < levels; l++) {
                int len = n - (1 << l) + 1;
                idx[l] = new int[Math.max(0, len)];
                for (int i = 0; i < len; i++) {
                    int a = idx[l - 1][i];
                    int b = idx[l - 1][i + (1 << (l - 1))];
                    idx[l][i] = v[b] < v[a] ? b : a;
                }
            }
        }

        int argmin(int lo, int hi) {
            int l = 31 - Integer.numberOfLeadingZeros(hi - lo + 1);
            int a = idx[l][lo];
            int b = idx[l][hi - (1 << l) + 1];
            return v[b] < v[a] ? b : a;
        }
    }
}
