package io.inferq.loadtests.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Percentiles and the bootstrap interval of a ratio of percentiles. */
class StatsTest {

    @Test
    void nearestRankPercentile() {
        double[] v = {5, 1, 4, 2, 3};
        assertThat(Stats.pct(v, 0.5)).isEqualTo(3);
        assertThat(Stats.pct(v, 0.99)).isEqualTo(5);
        assertThat(Stats.pct(v, 0)).isEqualTo(1);
        assertThat(Stats.pct(new double[0], 0.5)).isNaN();
    }

    @Test
    void theBootstrapIntervalOfARatioOfP99sHoldsThePointRatioAndStaysWithinWhatTheSamplesAllow() {
        SplittableRandom r = new SplittableRandom(3);
        double[] a = new double[120];
        double[] b = new double[120];
        for (int i = 0; i < a.length; i++) {
            a[i] = 10 + 10 * r.nextDouble(); // 10–20
            b[i] = 50 + 10 * r.nextDouble(); // 50–60
        }
        double point = Stats.pct(b, 0.99) / Stats.pct(a, 0.99);
        double[] ci = Stats.bootstrapRatio(a, b, 0.99, 0.9, 2000, 17);
        assertThat(ci[0]).isLessThanOrEqualTo(point).isGreaterThanOrEqualTo(50.0 / 20);
        assertThat(ci[1]).isGreaterThanOrEqualTo(point).isLessThanOrEqualTo(60.0 / 10);
        assertThat(Stats.bootstrapRatio(a, b, 0.99, 0.9, 2000, 17)).containsExactly(ci); // seeded: reproducible
    }

    @Test
    void aTailDecidedByOneOutlierGivesAWideInterval() {
        double[] a = new double[100];
        double[] b = new double[100];
        for (int i = 0; i < a.length; i++) {
            a[i] = 20;
            b[i] = 20;
        }
        b[99] = 100; // one slow job: the point p99 ratio is 1.0 (the 99th of 100 is 20), one resample away from 5
        double[] ci = Stats.bootstrapRatio(a, b, 0.99, 0.9, 2000, 17);
        assertThat(ci[0]).isEqualTo(1.0);
        assertThat(ci[1]).isEqualTo(5.0);
        assertThat(Stats.bootstrapRatio(new double[0], b, 0.99, 0.9, 10, 1)[0]).isNaN();
    }
}
