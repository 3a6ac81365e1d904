package io.inferq.loadtests.policy;

import io.inferq.dispatcher.PoolProfile;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How much routing alone can gain on a fleet for a trace's job mix: a fluid bound, printed by {@code bench-policies}
 * as {@code ROUTING} lines.
 *
 * <p>At saturation a policy that does not look at a job's shape (round-robin, least-loaded: the next free credit takes
 * the next job) gives every pool the trace's own mix of jobs; the fleet then serves {@link #sameMixJobsPerSecond}. A
 * policy that routes by shape can at best split the mix so that each pool runs the job types it is relatively best at:
 * the linear program "largest rate λ such that λ × each type's share of the jobs can be split over the pools within
 * their instance-seconds" gives {@link #bestSplitJobsPerSecond}. Their ratio bounds the goodput gain over a shape-blind
 * policy that any routing can reach while serving every job type in proportion. It leaves out deadlines (which only
 * lower both), the prefix cache (its own gain: {@link CacheAwareCapacity}) and choosing which jobs to serve at all (at
 * overload a scheduler that ran only cheap jobs would count more jobs; inferq serves in arrival and fairness order).
 *
 * <p>Job types: the trace's jobs binned by prompt and output length (bins a factor √2 wide); a type's cost on a pool
 * is one instance-second ÷ {@link PolicySimulator#instanceJobsPerSecond} at the type's mean lengths (the same yardstick
 * as the nominal capacity, the engine at full concurrency on that type).
 *
 * @param bestSplitJobsPerSecond the fleet's rate for the trace's mix, split over the pools at best
 * @param sameMixJobsPerSecond   the fleet's rate when every pool runs the trace's mix
 * @param types                  how many job types the trace was binned into
 * @param bestSplitShare         per pool, its share of the jobs in the best split
 */
public record RoutingGain(double bestSplitJobsPerSecond, double sameMixJobsPerSecond, int types,
                          Map<String, Double> bestSplitShare) {

    /** Best split ÷ same mix: at most how much more goodput routing by shape can give (≥ 1). */
    public double ratio() {
        return bestSplitJobsPerSecond / sameMixJobsPerSecond;
    }

    /** Computes the bound for {@code sim}'s fleet and {@code trace} (every prompt token prefilled). */
    public static RoutingGain of(PolicySimulator sim, List<TraceRequest> trace) {
        if (trace.isEmpty()) {
            throw new IllegalArgumentException("trace must not be empty");
        }
        Map<Long, double[]> bins = new LinkedHashMap<>(); // key → {jobs, Σ in, Σ out}
        for (TraceRequest t : trace) {
            long key = ((long) bin(t.inputTokens()) << 32) | bin(t.outputTokens());
            double[] b = bins.computeIfAbsent(key, k -> new double[3]);
            b[0]++;
            b[1] += t.inputTokens();
            b[2] += t.outputTokens();
        }
        List<PoolProfile> pools = sim.poolProfiles();
        int types = bins.size();
        double[] shares = new double[types];
        double[][] seconds = new double[types][pools.size()];
        double[] instances = new double[pools.size()];
        for (int p = 0; p < pools.size(); p++) {
            instances[p] = pools.get(p).instances();
        }
        int c = 0;
        for (double[] b : bins.values()) {
            shares[c] = b[0] / trace.size();
            for (int p = 0; p < pools.size(); p++) {
                seconds[c][p] = 1 / sim.instanceJobsPerSecond(pools.get(p).poolId(), b[1] / b[0], 0.0, b[2] / b[0]);
            }
            c++;
        }
        double[][] split = new double[types][pools.size()];
        double best = bestSplit(shares, seconds, instances, split);
        Map<String, Double> share = new LinkedHashMap<>();
        for (int p = 0; p < pools.size(); p++) {
            double jobs = 0;
            for (int k = 0; k < types; k++) {
                jobs += split[k][p];
            }
            share.put(pools.get(p).poolId(), best > 0 ? jobs / best : 0);
        }
        return new RoutingGain(best, sameMix(shares, seconds, instances), types, share);
    }

    /** The rate when every pool runs the mix: each pool's instances ÷ the mix's mean cost there, summed. */
    static double sameMix(double[] shares, double[][] seconds, double[] instances) {
        double rate = 0;
        for (int p = 0; p < instances.length; p++) {
            double mean = 0;
            for (int c = 0; c < shares.length; c++) {
                mean += shares[c] * seconds[c][p];
            }
            rate += instances[p] / mean;
        }
        return rate;
    }

    /**
     * Largest λ such that, for every type {@code c}, {@code λ × shares[c]} jobs/s split over the pools
     * ({@code x[c][p] ≥ 0}) fit each pool's instance-seconds per second: {@code Σ_c x[c][p] × seconds[c][p] ≤
     * instances[p]}. Solved exactly by the simplex method (Bland's rule, so degenerate steps cannot cycle).
     *
     * @param split filled with the optimal {@code x} (jobs/s of each type on each pool)
     */
    static double bestSplit(double[] shares, double[][] seconds, double[] instances, double[][] split) {
        int types = shares.length;
        int pools = instances.length;
        int vars = 1 + types * pools; // λ, then x[c][p]
        int rows = types + pools;
        // constraints: λ·share[c] − Σ_p x[c][p] ≤ 0;  Σ_c seconds[c][p]·x[c][p] ≤ instances[p]
        double[][] a = new double[rows][vars + rows + 1];
        for (int c = 0; c < types; c++) {
            a[c][0] = shares[c];
            for (int p = 0; p < pools; p++) {
                a[c][1 + c * pools + p] = -1;
                a[types + p][1 + c * pools + p] = seconds[c][p];
            }
        }
        for (int r = 0; r < rows; r++) {
            a[r][vars + r] = 1;
            a[r][vars + rows] = r < types ? 0 : instances[r - types];
        }
        double[] z = new double[vars + rows + 1]; // reduced costs of "maximise λ"
        z[0] = -1;
        int[] basis = new int[rows];
        for (int r = 0; r < rows; r++) {
            basis[r] = vars + r;
        }
        final double eps = 1e-12;
        for (int iteration = 0; ; iteration++) {
            if (iteration > 100_000) {
                throw new IllegalStateException("simplex did not converge");
            }
            int enter = -1;
            for (int j = 0; j < vars + rows; j++) {
                if (z[j] < -eps) {
                    enter = j;
                    break;
                }
            }
            if (enter < 0) {
                break;
            }
            int leave = -1;
            double bestRatio = Double.POSITIVE_INFINITY;
            for (int r = 0; r < rows; r++) {
                if (a[r][enter] > eps) {
                    double ratio = a[r][vars + rows] / a[r][enter];
                    if (leave < 0 || ratio < bestRatio - eps || (Math.abs(ratio - bestRatio) <= eps && basis[r] < basis[leave])) {
                        bestRatio = ratio;
                        leave = r;
                    }
                }
            }
            if (leave < 0) {
                throw new IllegalStateException("unbounded: a pool with no instances or a type that costs nothing");
            }
            pivot(a, z, leave, enter);
            basis[leave] = enter;
        }
        double lambda = 0;
        for (double[] row : split) {
            Arrays.fill(row, 0);
        }
        for (int r = 0; r < rows; r++) {
            double v = a[r][vars + rows];
            if (basis[r] == 0) {
                lambda = v;
            } else if (basis[r] < vars) {
                int k = basis[r] - 1;
                split[k / pools][k % pools] = v;
            }
        }
        return lambda;
    }

    private static void pivot(double[][] a, double[] z, int row, int col) {
        double[] pr = a[row];
        double p = pr[col];
        for (int j = 0; j < pr.length; j++) {
            pr[j] /= p;
        }
        for (double[] r : a) {
            if (r != pr && r[col] != 0) {
                double f = r[col];
                for (int j = 0; j < r.length; j++) {
                    r[j] -= f * pr[j];
                }
            }
        }
        double f = z[col];
        for (int j = 0; j < z.length; j++) {
            z[j] -= f * pr[j];
        }
    }

    private static int bin(int tokens) {
        return (int) Math.floor(2 * Math.log(Math.max(1, tokens)) / Math.log(2));
    }

    /** One printable line. */
    public String describe(String trace) {
        List<String> parts = new ArrayList<>();
        bestSplitShare.forEach((pool, s) -> parts.add(String.format(Locale.ROOT, "%s=%.0f%%", pool, s * 100)));
        return String.format(Locale.ROOT, "ROUTING %s: the trace's mix (%d job types) split over the pools at best %.2f jobs/s, "
                + "the same mix on every pool %.2f jobs/s: routing by shape can gain at most %.2f× over a shape-blind policy "
                + "(fluid bound, every type served in proportion, no deadlines, no cache; best split %s)", trace, types,
                bestSplitJobsPerSecond, sameMixJobsPerSecond, ratio(), String.join(" ", parts));
    }
}
