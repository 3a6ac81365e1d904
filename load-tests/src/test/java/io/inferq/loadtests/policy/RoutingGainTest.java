package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The routing-gain bound's linear program on hand-made fleets with known answers. */
class RoutingGainTest {

    @Test
    void oneTypeOnOnePoolRunsAtItsInstancesOverItsCost() {
        double[][] split = new double[1][1];
        assertThat(RoutingGain.bestSplit(new double[] {1}, new double[][] {{0.5}}, new double[] {3}, split))
                .isCloseTo(6, within(1e-9));
        assertThat(split[0][0]).isCloseTo(6, within(1e-9));
        assertThat(RoutingGain.sameMix(new double[] {1}, new double[][] {{0.5}}, new double[] {3})).isCloseTo(6, within(1e-9));
    }

    @Test
    void twoPoolsEachBetterAtOneTypeGainBySpecialising() {
        // type 0 costs 1 s on pool 0 and 2 s on pool 1; type 1 the other way round; half the jobs each, one instance each
        double[] shares = {0.5, 0.5};
        double[][] seconds = {{1, 2}, {2, 1}};
        double[] instances = {1, 1};
        double[][] split = new double[2][2];
        double best = RoutingGain.bestSplit(shares, seconds, instances, split);
        assertThat(best).isCloseTo(2, within(1e-9)); // each pool runs only its own type: 1 job/s each
        assertThat(split[0][0]).isCloseTo(1, within(1e-9));
        assertThat(split[1][1]).isCloseTo(1, within(1e-9));
        assertThat(split[0][1] + split[1][0]).isCloseTo(0, within(1e-9));
        // the same mix on both: a mean job costs 1.5 s everywhere
        assertThat(RoutingGain.sameMix(shares, seconds, instances)).isCloseTo(2 / 1.5, within(1e-9));
    }

    @Test
    void poolsThatRankTheTypesAlikeGainNothing() {
        // pool 1 is 3× slower at everything: no split beats the same mix on both
        double[] shares = {0.2, 0.3, 0.5};
        double[][] seconds = {{0.1, 0.3}, {1, 3}, {0.4, 1.2}};
        double[] instances = {2, 5};
        double best = RoutingGain.bestSplit(shares, seconds, instances, new double[3][2]);
        assertThat(best).isCloseTo(RoutingGain.sameMix(shares, seconds, instances), within(1e-9));
    }

    @Test
    void theBoundNeverFallsBelowTheSameMixAndItsSplitFitsThePools() {
        java.util.Random r = new java.util.Random(5);
        for (int trial = 0; trial < 50; trial++) {
            int types = 1 + r.nextInt(12);
            int pools = 1 + r.nextInt(5);
            double[] shares = new double[types];
            double sum = 0;
            for (int c = 0; c < types; c++) {
                shares[c] = 0.01 + r.nextDouble();
                sum += shares[c];
            }
            double[][] seconds = new double[types][pools];
            for (int c = 0; c < types; c++) {
                shares[c] /= sum;
                for (int p = 0; p < pools; p++) {
                    seconds[c][p] = 0.01 + 5 * r.nextDouble();
                }
            }
            double[] instances = new double[pools];
            for (int p = 0; p < pools; p++) {
                instances[p] = 1 + r.nextInt(4);
            }
            double[][] split = new double[types][pools];
            double best = RoutingGain.bestSplit(shares, seconds, instances, split);
            assertThat(best).isGreaterThanOrEqualTo(RoutingGain.sameMix(shares, seconds, instances) * (1 - 1e-9));
            for (int c = 0; c < types; c++) {
                double jobs = 0;
                for (int p = 0; p < pools; p++) {
                    assertThat(split[c][p]).isGreaterThanOrEqualTo(-1e-9);
                    jobs += split[c][p];
                }
                assertThat(jobs).as("type %d served in proportion", c).isGreaterThanOrEqualTo(best * shares[c] * (1 - 1e-9) - 1e-12);
            }
            for (int p = 0; p < pools; p++) {
                double used = 0;
                for (int c = 0; c < types; c++) {
                    used += split[c][p] * seconds[c][p];
                }
                assertThat(used).as("pool %d's instance-seconds", p).isLessThanOrEqualTo(instances[p] * (1 + 1e-9));
            }
        }
    }
}
