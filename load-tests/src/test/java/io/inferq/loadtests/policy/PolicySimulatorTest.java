package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import io.inferq.dispatcher.PoolProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.WeightPrecision;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicySimulatorTest {

    private static List<TraceRequest> synthetic(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<TraceRequest> out = new ArrayList<>();
        long t = 0;
        for (int i = 0; i < n; i++) {
            t += r.nextInt(0, 400);
            int in = r.nextBoolean() ? r.nextInt(100, 2_000) : r.nextInt(4_000, 30_000);
            List<Long> hashes = new ArrayList<>();
            long session = r.nextInt(0, 20);
            for (int b = 0; b < (in + 511) / 512; b++) {
                hashes.add(b < 4 ? session * 1000 + b : 1_000_000L * (i + 1) + b);
            }
            out.add(new TraceRequest(t, in, r.nextInt(10, 600), hashes));
        }
        return out;
    }

    @Test
    void deterministicAndEveryJobIsAccountedFor() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        List<TraceRequest> trace = sim.scaleToLoad(synthetic(400, 1), 2.0);
        for (String policy : PolicySimulator.POLICIES) {
            PolicySimulator.Result a = sim.run(trace, policy, true);
            PolicySimulator.Result b = sim.run(trace, policy, true);
            assertThat(a).as(policy + " deterministic").isEqualTo(b);
            assertThat(a.completed() + a.rejected() + a.expired()).as(policy).isEqualTo(400);
            assertThat(a.good()).isLessThanOrEqualTo(a.completed());
            assertThat(a.goodByPool()).as(policy + ": every pool listed, and the pools' good jobs are all of them")
                    .containsOnlyKeys(a.utilisation().keySet());
            assertThat(a.goodByPool().values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(a.good());
            assertThat(a.utilisation().values()).allSatisfy(u -> assertThat(u).isBetween(0.0, 1.0));
        }
    }

    @Test
    void theContinuousEngineModelIsTheDefaultAndTheStaticModelIsSelectable() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        assertThat(sim.instanceModel()).isEqualTo(PolicySimulator.InstanceModel.CONTINUOUS);
        assertThat(sim.withInstanceModel(PolicySimulator.InstanceModel.CONTINUOUS).withCalibration(true).instanceModel())
                .isEqualTo(PolicySimulator.InstanceModel.CONTINUOUS);
        PolicySimulator legacy = sim.withInstanceModel(PolicySimulator.InstanceModel.STATIC).withCalibration(true);
        assertThat(legacy.instanceModel()).as("kept by the other options").isEqualTo(PolicySimulator.InstanceModel.STATIC);
        PolicySimulator engine = sim;
        List<TraceRequest> trace = sim.scaleToLoad(synthetic(400, 3), 2.0);
        PolicySimulator.Result cont = sim.run(trace, "ect", true, true);
        assertThat(sim.withInstanceModel(PolicySimulator.InstanceModel.CONTINUOUS).run(trace, "ect", true, true))
                .as("CONTINUOUS is the default").isEqualTo(cont);
        assertThat(engine.run(trace, "ect", true, true)).as("deterministic").isEqualTo(cont);
        assertThat(cont.completed() + cont.rejected() + cont.expired()).isEqualTo(400);
        assertThat(cont.good()).isLessThanOrEqualTo(cont.completed());
        PolicySimulator.Result stat = legacy.run(trace, "ect", true, true);
        assertThat(stat.completed() + stat.rejected() + stat.expired()).isEqualTo(400);
        assertThat(stat).as("a different model gives different figures").isNotEqualTo(cont);
        PolicySimulator.TenantRun run = engine.runTenants(trace, null, io.inferq.dispatcher.fairness.FairnessConfig.defaults(),
                "ect", true, true);
        assertThat(run.jobs()).allSatisfy(j -> {
            if (j.completed()) {
                assertThat(j.ttftSeconds()).isGreaterThanOrEqualTo(j.waitSeconds()).isGreaterThan(0);
                // the queue wait (until sent to the engine) is part of the wait (until the engine admits it), up to rounding
                assertThat(j.queueWaitSeconds()).isGreaterThanOrEqualTo(0).isLessThanOrEqualTo(j.waitSeconds() + 1e-9);
            } else {
                assertThat(j.ttftSeconds()).isNaN();
                assertThat(j.queueWaitSeconds()).isNaN();
            }
        });
        assertThat(PolicySimulator.InstanceModel.parse("continuous")).isEqualTo(PolicySimulator.InstanceModel.CONTINUOUS);
        assertThat(PolicySimulator.InstanceModel.parse("static")).isEqualTo(PolicySimulator.InstanceModel.STATIC);
    }

    @Test
    void theContinuousNominalRateIsWhatASaturatedEngineServesAndMoreThanAStaticFullBatch() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        PolicySimulator legacy = sim.withInstanceModel(PolicySimulator.InstanceModel.STATIC);
        // short and long mean requests (the Azure and conversation traces' means are about these)
        for (int[] shape : new int[][] {{1_200, 200}, {12_000, 340}}) {
            int in = shape[0];
            int out = shape[1];
            for (PoolProfile p : sim.poolProfiles()) {
                double rate = sim.instanceJobsPerSecond(p.poolId(), in, 0, out);
                // an engine kept saturated: many identical jobs at once, served at its caps until the last finishes
                io.inferq.workers.engine.ContinuousBatchingEngine engine =
                        new io.inferq.workers.engine.ContinuousBatchingEngine(sim.roofline(p.poolId()));
                int jobs = 30 * engine.limits().maxRunningSequences();
                double last = 0;
                for (int i = 0; i < jobs; i++) {
                    engine.submit(new io.inferq.workers.engine.ContinuousBatchingEngine.Request("j" + i, in, 0, out, 1), 0);
                }
                while (!engine.idle()) {
                    for (var e : engine.advanceTo(engine.nextEventSeconds())) {
                        last = Math.max(last, e.atSeconds());
                    }
                }
                assertThat(jobs / last).as("%s, %d/%d", p.poolId(), in, out).isCloseTo(rate, offset(0.1 * rate));
                assertThat(rate).as("%s: the weight read is shared by more sequences than a static batch has", p.poolId())
                        .isGreaterThan(legacy.instanceJobsPerSecond(p.poolId(), in, 0, out));
            }
        }
    }

    @Test
    void loadScalingHitsTheRequestedRate() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        List<TraceRequest> trace = synthetic(1_000, 2);
        double cap = sim.capacityJobsPerSecond(trace);
        List<TraceRequest> doubled = sim.scaleToLoad(trace, 2.0);
        double rate = doubled.size() / (doubled.get(doubled.size() - 1).arrivalMs() / 1000.0);
        assertThat(rate / cap).isBetween(1.95, 2.05);
    }

    @Test
    void readsBothTraceFormats(@TempDir Path dir) throws IOException {
        Path jsonl = dir.resolve("t.jsonl");
        Files.writeString(jsonl, "{\"timestamp\": 3000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [7, 8]}\n"
                + "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 0, \"hash_ids\": []}\n");
        assertThat(TraceReader.read(jsonl)).containsExactly(new TraceRequest(0, 10, 1, List.of()),
                new TraceRequest(3000, 600, 5, List.of(7L, 8L)));
        Path csv = dir.resolve("t.csv");
        Files.writeString(csv, "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                + "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n");
        assertThat(TraceReader.read(csv)).containsExactly(new TraceRequest(0, 374, 44, List.of()),
                new TraceRequest(4315, 396, 109, List.of()));
    }

    /** Multi-turn sessions: each turn resends the session's whole history (its blocks) and adds new blocks. */
    private static List<TraceRequest> sessions(int sessionCount, int turns, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<List<Long>> history = new ArrayList<>();
        for (int s = 0; s < sessionCount; s++) {
            history.add(new ArrayList<>(List.of(0L))); // block 0: a system prompt every request shares
        }
        List<TraceRequest> out = new ArrayList<>();
        long next = 1;
        long t = 0;
        for (int turn = 0; turn < turns; turn++) {
            for (int k = 0; k < sessionCount; k++) {
                int s = r.nextInt(sessionCount);
                List<Long> h = history.get(s);
                for (int b = r.nextInt(4, 12); b > 0; b--) {
                    h.add(next++);
                }
                t += r.nextInt(0, 300);
                out.add(new TraceRequest(t, h.size() * 512 - r.nextInt(0, 400), r.nextInt(50, 400), h));
            }
        }
        return out;
    }

    @Test
    void r1FleetsHoldTheWeightsAndSizeTheirCachesFromTheKvLeft() {
        for (PolicySimulator.Settings s : List.of(PolicySimulator.Settings.r1Mixed(), PolicySimulator.Settings.r1H20())) {
            PolicySimulator sim = new PolicySimulator(s);
            assertThat(s.model()).isEqualTo("deepseek-r1");
            assertThat(s.prefixCacheBlocksPerPool()).isEqualTo(PolicySimulator.KV_SIZED_CACHE);
            Map<String, Integer> caches = sim.prefixCacheBlocksByPool();
            for (PoolProfile p : sim.poolProfiles()) {
                RooflineModel r = sim.roofline(p.poolId());
                assertThat(r.kvBudgetBytes()).as(p.poolId() + " weights fit").isPositive();
                assertThat(p.instances()).as("one engine per pool: its cache is that engine's").isEqualTo(1);
                long expected = (r.kvCapacityTokens() - p.maxBatchTokens()) / s.prefixBlockTokens();
                assertThat(caches.get(p.poolId())).as(p.poolId()).isEqualTo((int) expected).isPositive();
                WeightPrecision want = r.chip().hasFp8() ? WeightPrecision.FP8 : WeightPrecision.BF16;
                assertThat(r.precision()).as(p.poolId()).isEqualTo(want);
            }
        }
        // 8 × H20 FP8: 768 GB × 0.9 − 671 GB leaves ~20 GB, about 287k MLA tokens at 70,272 B
        PolicySimulator mixed = new PolicySimulator(PolicySimulator.Settings.r1Mixed());
        assertThat(mixed.roofline("h20-1").kvCapacityTokens()).isBetween(280_000L, 295_000L);
        assertThat(PolicySimulator.Settings.forFleet("defaults")).isEqualTo(PolicySimulator.Settings.defaults());
    }

    /** The R1 H20 fleet's first pool alone (one 8 × H20 instance), its prefix cache sized from its free KV memory. */
    private static PolicySimulator.Settings oneR1H20Instance() {
        PolicySimulator.Settings base = PolicySimulator.Settings.r1H20();
        return new PolicySimulator.Settings("one", base.model(), base.pools().subList(0, 1),
                base.ttftSloSeconds(), base.tpotSloSeconds(), PolicySimulator.KV_SIZED_CACHE, 512, base.dispatch(), 42L);
    }

    /**
     * As inferq's workers fill a pool's KV cache: a job's blocks go in when its prompt has been prefilled (its first
     * token), so a prompt sent together with one sharing its prefix misses, and one sent while that one still decodes
     * hits.
     */
    @Test
    void aJobsPrefixBlocksEnterThePoolsCacheWhenItsPromptIsPrefilled() {
        PolicySimulator.Settings one = oneR1H20Instance();
        List<Long> shared = new ArrayList<>();
        for (long b = 0; b < 40; b++) {
            shared.add(b);
        }
        PolicySimulator sim = new PolicySimulator(one);
        List<TraceRequest> together = List.of(new TraceRequest(0, 5_120, 4_000, shared.subList(0, 10)),
                new TraceRequest(0, 20_480, 20, shared));
        assertThat(sim.run(together, "ect", true).prefixHitRatio()).as("sent together: nothing prefilled yet").isZero();
        // the 10-block prompt's first token comes within 1 s, and it then decodes 4,000 tokens (seconds)
        PolicySimulator.Result first = sim.run(together.subList(0, 1), "ect", true);
        assertThat(first.p50Ttft()).isLessThan(1.0);
        assertThat(first.p50E2e()).isGreaterThan(2.0);
        List<TraceRequest> whileDecoding = List.of(together.get(0), new TraceRequest(1_000, 20_480, 20, shared));
        assertThat(sim.run(whileDecoding, "ect", true).prefixHitRatio()).as("sent after its prefill, while it decodes")
                .isCloseTo(5_120.0 / (5_120 + 20_480), offset(1e-9));
        // the legacy static model stores at dispatch
        List<TraceRequest> overlapping = List.of(together.get(0), new TraceRequest(100, 20_480, 20, shared));
        assertThat(sim.withInstanceModel(PolicySimulator.InstanceModel.STATIC).run(overlapping, "ect", true).prefixHitRatio())
                .isCloseTo(5_120.0 / (5_120 + 20_480), offset(1e-9));
    }

    @Test
    void cachedPrefillIsDiscountedOnlyWhereThePrefixIs() {
        PolicySimulator.Settings one = oneR1H20Instance();
        List<Long> shared = new ArrayList<>();
        List<Long> other = new ArrayList<>();
        for (long b = 0; b < 40; b++) {
            shared.add(b);
            other.add(b < 10 ? 1_000 + b : b);
        }
        // a 10-block prompt, then (60 s later, alone) a 40-block prompt whose first 10 blocks are the same or not
        List<TraceRequest> hit = List.of(new TraceRequest(0, 5_120, 20, shared.subList(0, 10)),
                new TraceRequest(60_000, 20_480, 20, shared));
        List<TraceRequest> miss = List.of(hit.get(0), new TraceRequest(60_000, 20_480, 20, other));
        PolicySimulator sim = new PolicySimulator(one);
        PolicySimulator.Result withHit = sim.run(hit, "ect", true);
        PolicySimulator.Result withMiss = sim.run(miss, "ect", true);
        assertThat(withHit.prefixHitRatio()).isCloseTo(5_120.0 / (5_120 + 20_480), offset(1e-9));
        assertThat(withMiss.prefixHitRatio()).isZero();
        // the 40-block prompt dominates p99 TTFT: it prefills 30 blocks instead of 40, and fetches the 10 cached
        // blocks' KV over the network instead
        RooflineModel r = sim.roofline(one.pools().get(0).id());
        assertThat(withMiss.p99Ttft() - withHit.p99Ttft()).isCloseTo(r.prefillSeconds(5_120) - r.kvTransferSecondsForTokens(5_120),
                offset(0.002));
        // with no cache at all, nothing is discounted
        PolicySimulator none = new PolicySimulator(one.withPrefixCacheBlocksPerPool(0));
        assertThat(none.run(hit, "ect", true).prefixHitRatio()).isZero();
    }

    @Test
    void prefixAwareRoutingKeepsSessionsWhereTheirPrefixIsAndOnlyRoutingDiffers() {
        PolicySimulator.Settings base = PolicySimulator.Settings.r1H20();
        PolicySimulator.Settings four = new PolicySimulator.Settings("four", base.model(), base.pools().subList(0, 4),
                base.ttftSloSeconds(), base.tpotSloSeconds(), PolicySimulator.KV_SIZED_CACHE, 512, base.dispatch(), 7L);
        PolicySimulator sim = new PolicySimulator(four);
        List<TraceRequest> trace = sim.scaleToLoad(sessions(40, 6, 3), 0.5);
        PolicySimulator.Result on = sim.run(trace, "ect", true);
        PolicySimulator.Result off = sim.run(trace, "ect", false);
        assertThat(sim.run(trace, "ect", true)).isEqualTo(on);
        assertThat(sim.run(trace, "ect", false)).isEqualTo(off);
        assertThat(on.completed() + on.rejected() + on.expired()).isEqualTo(trace.size());
        assertThat(off.completed() + off.rejected() + off.expired()).isEqualTo(trace.size());
        // prefix-blind routing still hits (the caches are the same), just less often
        assertThat(off.prefixHitRatio()).isPositive();
        assertThat(on.prefixHitRatio()).isGreaterThan(off.prefixHitRatio() + 0.1);
        assertThat(on.prefixHitRatio()).isLessThanOrEqualTo(on.bestPoolHitRatio());
        assertThat(off.prefixHitRatio()).isLessThanOrEqualTo(off.bestPoolHitRatio());
        String report = PolicySimulator.prefixReport(sim, "sessions", sessions(40, 6, 3), new double[] {0.5});
        assertThat(report).contains("prefix-on", "prefix-off", "on÷off: goodput");
    }
}
