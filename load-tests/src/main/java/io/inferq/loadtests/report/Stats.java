package io.inferq.loadtests.report;

import java.util.Arrays;

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

    public static double mean(double[] values) {
        return Arrays.stream(values).filter(d -> !Double.isNaN(d)).average().orElse(Double.NaN);
    }
}
