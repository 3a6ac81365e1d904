package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CapacityAccountTest {

    private static List<TraceRequest> synthetic(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<TraceRequest> out = new ArrayList<>();
        long t = 0;
        for (int i = 0; i < n; i++) {
            t += r.nextInt(0, 400);
            int in = r.nextBoolean() ? r.nextInt(100, 2_000) : r.nextInt(4_000, 30_000);
            List<Long> hashes = new ArrayList<>();
            for (int b = 0; b < (in + 511) / 512; b++) {
                hashes.add(b < 2 ? (long) (i % 7) * 1000 + b : 1_000_000L * (i + 1) + b);
            }
            out.add(new TraceRequest(t, in, r.nextInt(1, 600), hashes));
        }
        return out;
    }

    @Test
    void theTermsAddUpToTheNominalCapacityForEveryPolicyAndLoad() {
        // the decomposition follows static batches (start, end, padding): the legacy instance model
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults())
                .withInstanceModel(PolicySimulator.InstanceModel.STATIC);
        List<TraceRequest> raw = synthetic(500, 11);
        for (double load : new double[] {0.3, 2.0}) {
            List<TraceRequest> trace = sim.scaleToLoad(raw, load);
            double span = trace.get(trace.size() - 1).arrivalMs() / 1000.0;
            for (String policy : PolicySimulator.POLICIES) {
                for (boolean wexp : new boolean[] {false, true}) {
                    PolicySimulator.Accounted a = sim.runAccounted(trace, policy, true, wexp);
                    CapacityAccount.Breakdown b = a.breakdown();
                    String what = policy + " " + load + "x wexp=" + wexp;
                    assertThat(b.nominal()).as(what).isEqualTo(sim.capacityJobsPerSecond(trace) * span, offset(1e-6 * b.nominal()));
                    assertThat(b.good()).as(what).isEqualTo(a.result().good());
                    assertThat(b.sum()).as(what).isEqualTo(b.nominal(), offset(1e-6 * b.nominal()));
                    // idle time is classified completely: what is left over is millisecond rounding only
                    assertThat(Math.abs(b.other())).as(what).isLessThan(0.01 * b.nominal());
                    assertThat(b.idleNoWork()).as(what).isGreaterThanOrEqualTo(0);
                }
            }
        }
    }

    @Test
    void atLowLoadEveryJobIsGoodAndTheRestIsIdleTimeOrSmallBatches() {
        // the decomposition follows static batches (start, end, padding): the legacy instance model
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults())
                .withInstanceModel(PolicySimulator.InstanceModel.STATIC);
        List<TraceRequest> trace = sim.scaleToLoad(synthetic(300, 5), 0.2);
        CapacityAccount.Breakdown b = sim.runAccounted(trace, "ect", true, true).breakdown();
        // 0.2x: every job is good; the fast pools run each job at once in a batch of its own (under-fill), the others idle
        assertThat(b.good()).isEqualTo(trace.size());
        assertThat(b.lateRan()).isZero();
        assertThat(b.good() / b.nominal()).isEqualTo(0.2, offset(0.02));
        assertThat((b.idleNoWork() + b.underfill()) / b.nominal()).isGreaterThan(0.6);
        Map<String, Double> rates = CapacityAccount.nominalRates(sim, trace);
        double cap = 0;
        for (var p : sim.poolProfiles()) {
            cap += p.instances() * rates.get(p.poolId());
        }
        assertThat(cap).isEqualTo(sim.capacityJobsPerSecond(trace), offset(1e-9));
    }
}
