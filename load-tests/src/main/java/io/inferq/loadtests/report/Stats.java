package io.inferq.loadtests.report;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Percentiles of small arrays (sorts a copy; NaN values are dropped). Stateless. */
public final class Stats {
    private Stats() {
    }

    public static double[] sorted(double[] values) {
        return Arrays.stream(values).filter(d -> !Double.isNaN(d)).sorted().toArray();
    }

    /** Nearest-rank percentile of {@code values}, q in [0, 1]; NaN when empty. */
    public static double pct(double[] values, double q) {
        double[] s = sorted(values);
        if (s.length == 0) {
            return Double.NaN;
        }
        return s[(int) Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
    }

    /**
     * A percentile bootstrap interval of {@code pct(b, q) ÷ pct(a, q)}: both samples resampled with replacement
     * {@code rounds} times from a seeded generator (the same inputs give the same interval), the ratio's
     * {@code (1 − level) / 2} and {@code (1 + level) / 2} quantiles returned as {low, high}. Says how far a ratio of
     * tail percentiles of small samples (a p99 of 120 jobs is their second-slowest) can be trusted; NaN when a
     * sample is empty.
     */
    public static double[] bootstrapRatio(double[] a, double[] b, double q, double level, int rounds, long seed) {
        double[] sa = sorted(a);
        double[] sb = sorted(b);
        if (sa.length == 0 || sb.length == 0 || rounds < 1) {
            return new double[] {Double.NaN, Double.NaN};
        }
        SplittableRandom r = new SplittableRandom(seed);
        double[] ratios = new double[rounds];
        double[] ra = new double[sa.length];
        double[] rb = new double[sb.length];
        for (int i = 0; i < rounds; i++) {
            for (int k = 0; k < ra.length; k++) {
                ra[k] = sa[r.nextInt(sa.length)];
            }
            for (int k = 0; k < rb.length; k++) {
                rb[k] = sb[r.nextInt(sb.length)];
            }
            ratios[i] = pct(rb, q) / pct(ra, q);
        }
        return new double[] {pct(ratios, (1 - level) / 2), pct(ratios, (1 + level) / 2)};
    }

    public static double mean(double[] values) {
        return Arrays.stream(values).filter(d -> !Double.isNaN(d)).average().orElse(Double.NaN);
    }
}
