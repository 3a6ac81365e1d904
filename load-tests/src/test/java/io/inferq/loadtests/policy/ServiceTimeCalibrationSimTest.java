package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Online service-time calibration in the one dispatch loop, measured by the simulator: a pool whose engines are twice
 * as slow as its configured (roofline) service time is learned (its overall scale about twice the correctly configured
 * pool's), and the fleet's goodput, summed over five seeds, is within 10 % of the same fleet correctly configured, on
 * short bursty and on long steady prompts. Synthetic workloads only (two length mixes, steady and bursty arrivals), not
 * the shared traces.
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

    /** Seeds of the synthetic workloads: one seed is one sample of a noisy measure, five sum up to a steadier one. */
    private static final long[] SEEDS = {7, 8, 9, 10, 11};

    @Test
    void aPoolConfiguredTwiceTooOptimisticIsLearnedAndGoodputRecovers() {
        PolicySimulator base = new PolicySimulator(PolicySimulator.Settings.defaults());
        String slow = "h800"; // the fleet's fastest pool (2 of its 7 instances): mis-estimating it costs the most
        PolicySimulator correct = base.withPoolSlowdown(slow, 2.0, 2.0);
        PolicySimulator optimistic = base.withPoolSlowdown(slow, 2.0, 1.0);
        // two workloads that differ in both length mix and arrival shape, five seeds each; goodput summed over the seeds
        for (boolean longPrompts : new boolean[] {false, true}) {
            boolean bursty = !longPrompts;
            String what = (longPrompts ? "long" : "short") + " prompts, " + (bursty ? "bursty" : "steady");
            double good = 0;
            double learned = 0;
            double blind = 0;
            for (long seed : SEEDS) {
                List<TraceRequest> trace = base.scaleToLoad(synthetic(2_000, seed, longPrompts, bursty), 0.8);
                PolicySimulator.Result g = correct.run(trace, "ect", false, true);
                PolicySimulator.Result l = optimistic.run(trace, "ect", false, true);
                PolicySimulator.Result b = optimistic.withCalibration(false).run(trace, "ect", false, true);
                var scales = l.calibration().get(slow);
                var correctScales = g.calibration().get(slow);
                System.out.printf("%s, seed %d: goodput correctly configured %.3f, 2x optimistic + calibration %.3f (%.2f), "
                                + "without calibration %.3f (%.2f); learned overall scale of %s %.2f, correctly configured %.2f%n",
                        what, seed, g.goodput(), l.goodput(), l.goodput() / g.goodput(), b.goodput(),
                        b.goodput() / g.goodput(), slow, scales.overall(), correctScales.overall());
                // on long prompts the 2× shows in the pool's overall scale (its recent mean batch, calibrated ÷
                // configured; how the fit splits it between prefill and decode is poorly identified on one workload),
                // which is throughput-equivalent (batches overlap in the engine, so a pool learns less than its prior),
                // hence compared with what the correctly configured fleet learned of the same pool (short bursty
                // prompts keep the pool's batches small and rarely overlapping: 0.95–1.88 there)
                if (longPrompts) {
                    assertThat(scales.overall() / correctScales.overall())
                            .as("%s, seed %d: learned overall scale of the 2× slower pool ÷ the correctly configured one's", what, seed)
                            .isGreaterThan(1.5);
                }
                good += g.goodput();
                learned += l.goodput();
                blind += b.goodput();
            }
            System.out.printf("%s, %d seeds: calibrated ÷ correctly configured %.3f, without calibration %.3f%n",
                    what, SEEDS.length, learned / good, blind / good);
            // the goal: within 10 %. Measured 1.002 (short bursty, 1.00–1.01 per seed) and 0.987 (long steady, 0.96–1.01
            // per seed; 0.883 before first-token times calibrated the deadline checks' prefill: the slow pool's batches
            // were sized to a prefill it does not have, and their jobs missed their first-token deadlines there)
            assertThat(learned / good).as("%s: goodput ÷ the correctly configured fleet's, %d seeds", what, SEEDS.length)
                    .isGreaterThanOrEqualTo(0.9);
        }
    }
}
