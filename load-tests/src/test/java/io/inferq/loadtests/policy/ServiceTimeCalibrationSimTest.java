package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Online service-time calibration in the one dispatch loop, measured by the simulator: a pool whose engines are twice
 * as slow as its configured (roofline) service time gets less work once the dispatcher has learned that, and the
 * fleet's goodput comes within 10 % of the same fleet correctly configured. Synthetic workloads only (two length mixes,
 * steady and bursty arrivals), not the shared traces.
 */
class ServiceTimeCalibrationSimTest {

    /** Poisson-ish arrivals; {@code bursty}: every 20 s a 4 s burst at 4× the rate. */
    private static List<TraceRequest> synthetic(int n, long seed, boolean longPrompts, boolean bursty) {
        SplittableRandom r = new SplittableRandom(seed);
        List<TraceRequest> out = new ArrayList<>();
        double t = 0;
        for (int i = 0; i < n; i++) {
            double gap = -Math.log(1 - r.nextDouble()) * 200;
            if (bursty && ((long) t / 1000) % 20 < 4) {
                gap /= 4;
            }
            t += gap;
            int in = longPrompts ? r.nextInt(2_000, 16_000) : r.nextInt(100, 2_000);
            out.add(new TraceRequest(Math.round(t), in, r.nextInt(20, 400), List.of()));
        }
        return out;
    }

    @Test
    void aPoolConfiguredTwiceTooOptimisticIsLearnedAndGoodputRecovers() {
        PolicySimulator base = new PolicySimulator(PolicySimulator.Settings.defaults());
        String slow = "h800"; // the fleet's fastest pool (2 of its 7 instances): mis-estimating it costs the most
        PolicySimulator correct = base.withPoolSlowdown(slow, 2.0, 2.0);
        PolicySimulator optimistic = base.withPoolSlowdown(slow, 2.0, 1.0);
        // two workloads that differ in both length mix and arrival shape (with 4 credits per instance the four
        // combinations measured calibrated ÷ correctly configured 1.07 short steady, 0.97 short bursty, 0.97 long
        // steady, 0.91 long bursty; two keep the test short)
        for (boolean longPrompts : new boolean[] {false, true}) {
            boolean bursty = !longPrompts;
            String what = (longPrompts ? "long" : "short") + " prompts, " + (bursty ? "bursty" : "steady");
            List<TraceRequest> trace = base.scaleToLoad(synthetic(2_000, 7, longPrompts, bursty), 0.8);
            PolicySimulator.Result good = correct.run(trace, "ect", false, true);
            PolicySimulator.Result learned = optimistic.run(trace, "ect", false, true);
            PolicySimulator.Result blind = optimistic.withCalibration(false).run(trace, "ect", false, true);
            var scales = learned.calibration().get(slow);
            var correctScales = good.calibration().get(slow);
            System.out.printf("%s: goodput correctly configured %.3f, 2x optimistic + calibration %.3f (%.2f), without "
                            + "calibration %.3f (%.2f); learned scales of %s %s, correctly configured %s%n",
                    what, good.goodput(), learned.goodput(), learned.goodput() / good.goodput(), blind.goodput(),
                    blind.goodput() / good.goodput(), slow, scales, correctScales);
            assertThat(learned.goodput()).as("%s: goodput within 10%% of the correctly configured fleet", what)
                    .isGreaterThanOrEqualTo(0.9 * good.goodput());
            if (longPrompts) {
                // here the mis-configuration costs goodput (without calibration 0.86 of the correct fleet's): the 2×
                // shows in the pool's overall scale (its recent mean batch, calibrated ÷ configured; how the fit splits
                // it between prefill and decode is poorly identified on one workload), which is throughput-equivalent
                // (batches overlap in the engine, so a pool learns less than its prior), hence compared with what the
                // correctly configured fleet learned of the same pool; and calibration wins back goodput
                assertThat(scales.overall() / correctScales.overall())
                        .as("%s: learned overall scale of the 2× slower pool ÷ the correctly configured one's", what)
                        .isGreaterThan(1.5);
                assertThat(learned.goodput()).as("%s: goodput with calibration vs without", what)
                        .isGreaterThan(blind.goodput());
            }
        }
    }
}
