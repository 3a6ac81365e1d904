package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.RooflineModel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GoodputBoundTest {

    private static final RooflineModel H800 = RooflineModel.of(ChipCatalogue.builtIn().get("h800"), 1,
            ModelCatalogue.builtIn().get("deepseek-v2-lite"));

    private static GoodputBound oneInstance() {
        return new GoodputBound(List.of(new GoodputBound.PoolSpec("h800", 1, H800, 1_000_000, 32)), 5.0, 0.1, 512, 0.25,
                600);
    }

    @Test
    void sparseFeasibleJobsAreAllGood() {
        List<TraceRequest> trace = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            trace.add(new TraceRequest(i * 100_000L, 100, 1, List.of()));
        }
        GoodputBound.Result r = oneInstance().compute(trace);
        assertThat(r.bound()).isEqualTo(5.0, offset(1e-6));
        assertThat(r.lpLower()).isEqualTo(5.0, offset(1e-6));
        assertThat(r.feasibleJobs()).isEqualTo(5);
    }

    @Test
    void aJobWhosePrefillAloneMissesTheDeadlineCannotCount() {
        int tooLong = (int) Math.ceil(6.0 / H800.prefillSeconds(1)); // 6 s of prefill > 5 s TTFT SLO
        List<TraceRequest> trace = List.of(new TraceRequest(0, 100, 1, List.of()),
                new TraceRequest(100_000, tooLong, 1, List.of()), new TraceRequest(200_000, 100, 1, List.of()));
        GoodputBound.Result r = oneInstance().compute(trace);
        assertThat(r.feasibleJobs()).isEqualTo(2);
        assertThat(r.bound()).isEqualTo(2.0, offset(1e-6));
    }

    @Test
    void simultaneousJobsShareTheDeadlineWindow() {
        // 100 jobs at t = 0, each 0.5 s of prefill and one output token: whatever the batching, the first tokens of
        // the good ones all come within 5 s of one instance, so at most 10 are good; the LP gives exactly 5 ÷ 0.5
        int prompt = (int) Math.round(0.5 / H800.prefillSeconds(1));
        double cost = H800.prefillSeconds(prompt);
        List<TraceRequest> trace = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            trace.add(new TraceRequest(0, prompt, 1, List.of()));
        }
        GoodputBound.Result r = oneInstance().compute(trace);
        assertThat(r.bound()).isGreaterThanOrEqualTo(Math.floor(5.0 / cost) - 1e-9);
        assertThat(r.bound()).isEqualTo(5.0 / cost, offset(0.05));
        assertThat(r.lpLower()).isEqualTo(5.0 / cost, offset(1e-6));
    }

    @Test
    void aSharedPrefixLowersTheCostOfLaterJobsOnly() {
        int prompt = (int) Math.round(0.5 / H800.prefillSeconds(1)); // 0.5 s each without a cache
        List<Long> blocks = new ArrayList<>();
        for (long b = 0; b < prompt / 512; b++) {
            blocks.add(b);
        }
        List<TraceRequest> trace = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            trace.add(new TraceRequest(0, prompt, 1, blocks));
        }
        GoodputBound.Result shared = oneInstance().compute(trace);
        GoodputBound.Result none = oneInstance().compute(trace.stream()
                .map(t -> new TraceRequest(t.arrivalMs(), t.inputTokens(), t.outputTokens(), List.of())).toList());
        assertThat(shared.bound()).isGreaterThan(none.bound() * 2);
    }

    @Test
    void noPolicyOfTheSimulatorBeatsTheBound() {
        SplittableRandom rnd = new SplittableRandom(3);
        List<TraceRequest> raw = new ArrayList<>();
        long t = 0;
        for (int i = 0; i < 400; i++) {
            t += rnd.nextInt(0, 300);
            int in = rnd.nextBoolean() ? rnd.nextInt(100, 2_000) : rnd.nextInt(4_000, 30_000);
            List<Long> hashes = new ArrayList<>();
            long session = rnd.nextInt(0, 10);
            for (int b = 0; b < (in + 511) / 512; b++) {
                hashes.add(b < 3 ? session * 1000 + b : 1_000_000L * (i + 1) + b);
            }
            raw.add(new TraceRequest(t, in, rnd.nextInt(1, 600), hashes));
        }
        // the continuous engine model (the default) and the legacy static batches: each its own bound
        for (PolicySimulator.InstanceModel model : PolicySimulator.InstanceModel.values()) {
            PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults()).withInstanceModel(model);
            for (double load : new double[] {0.5, 2.0}) {
                List<TraceRequest> trace = sim.scaleToLoad(raw, load);
                GoodputBound.Result bound = GoodputBound.of(sim, 0.25).compute(trace);
                assertThat(bound.lpLower()).isLessThanOrEqualTo(bound.bound() + 1e-6);
                for (String policy : PolicySimulator.POLICIES) {
                    for (boolean wexp : new boolean[] {false, true}) {
                        PolicySimulator.Result r = sim.run(trace, policy, true, wexp);
                        assertThat((double) r.good()).as("%s, %s at %.1fx, drop at worker %s", model, policy, load, wexp)
                                .isLessThanOrEqualTo(bound.bound() + 1e-6);
                    }
                }
            }
        }
    }
}
