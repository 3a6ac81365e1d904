package io.inferq.dispatcher;

import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RoutingPoliciesTest {

    private static final DispatchConfig CFG = Fixtures.config().withMaxInFlightBatchesPerInstance(2)
            .withPrefix(100, 1.0);

    private static QueuedJob job(String id, int prompt, long at, List<Long> hashes) {
        return new QueuedJob(id, "t", "m", INTERACTIVE, prompt, 10, at, null, hashes);
    }

    private static List<String> route(DispatchScheduler s, int n, int prompt) {
        List<String> pools = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            s.enqueue(job("j" + i, prompt, i * 100L, List.of()));
            s.formBatches(i * 100L + 50).forEach(b -> pools.add(b.poolId()));
        }
        return pools;
    }

    private static List<PoolProfile> fastAndSlow() {
        return List.of(Fixtures.pool("slow", "m", 1, 1000, 1, Fixtures.linear(100, 0.1)),
                Fixtures.pool("fast", "m", 1, 1000, 1, Fixtures.linear(10_000, 0.001)));
    }

    @Test
    void everyConfigurationNameAndShortNameLooksUpItsPolicy() {
        assertThat(RoutingPolicies.NAMES).containsExactly("estimated-completion", "round-robin", "least-loaded", "random");
        for (String name : RoutingPolicies.NAMES) {
            RoutingPolicy p = RoutingPolicies.byName(name, 1);
            assertThat(RoutingPolicies.byName(p.name(), 1).name()).as(name).isEqualTo(p.name());
        }
        assertThat(RoutingPolicies.NAMES.stream().map(RoutingPolicies::shortName))
                .containsExactly("ect", "round-robin", "least-loaded", "random");
    }

    @Test
    void roundRobinRotatesOverPoolsWithCredit() {
        DispatchScheduler s = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(10), fastAndSlow(),
                RoutingPolicies.roundRobin(), PrefixLocator.NONE);
        assertThat(route(s, 4, 50)).containsExactly("slow", "fast", "slow", "fast");
    }

    @Test
    void roundRobinSkipsFullPools() {
        DispatchScheduler s = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(1), fastAndSlow(),
                RoutingPolicies.roundRobin(), PrefixLocator.NONE);
        assertThat(route(s, 3, 50)).containsExactly("slow", "fast");
    }

    @Test
    void leastLoadedPicksTheEmptiestPool() {
        DispatchScheduler s = new DispatchScheduler(CFG, fastAndSlow(), RoutingPolicies.leastLoaded(),
                PrefixLocator.NONE);
        // slow gets the first (tie: config order), fast the second, then slow again (both 1/2)
        assertThat(route(s, 4, 50)).containsExactly("slow", "fast", "slow", "fast");
    }

    @Test
    void randomIsReproducibleForASeedAndUsesOnlyFreePools() {
        List<String> a = route(new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(50), fastAndSlow(),
                RoutingPolicies.random(42), PrefixLocator.NONE), 40, 50);
        List<String> b = route(new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(50), fastAndSlow(),
                RoutingPolicies.random(42), PrefixLocator.NONE), 40, 50);
        assertThat(a).isEqualTo(b).hasSize(40).contains("slow", "fast");
    }

    @Test
    void estimatedCompletionPrefersTheFasterChipAndHoldsForIt() {
        DispatchScheduler s = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(2), fastAndSlow(),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        // 500 tokens: slow = 5 s + 1 s, fast = 0.05 s + 0.01 s; fast stays better while it has a backlog
        s.enqueue(job("a", 500, 0, List.of()));
        s.enqueue(job("b", 500, 0, List.of()));
        s.enqueue(job("c", 500, 0, List.of()));
        List<BatchPlan> plans = s.formBatches(100);
        assertThat(plans).extracting(BatchPlan::poolId).containsExactly("fast", "fast");
        assertThat(s.isQueued("c")).as("held for the fast pool, the slow one has a free credit").isTrue();
        s.batchFinished("fast", plans.get(0).batchId(), 160);
        assertThat(s.formBatches(160)).extracting(BatchPlan::poolId).containsExactly("fast");
    }

    @Test
    void estimatedCompletionFollowsCachedPrefixesButNotOntoAnOverloadedPool() {
        List<PoolProfile> twins = List.of(Fixtures.pool("a", "m", 1, 1000, 1, Fixtures.linear(1000, 0.001)),
                Fixtures.pool("b", "m", 1, 1000, 1, Fixtures.linear(1000, 0.001)));
        PrefixLocator hotOnB = hashes -> Map.of("b", hashes.size());
        DispatchScheduler s = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(20), twins,
                RoutingPolicies.estimatedCompletion(), hotOnB);
        List<Long> prefix = List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L); // 800 of 900 tokens cached on b
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            s.enqueue(job("j" + i, 900, 0, prefix));
            s.formBatches(50).forEach(b -> chosen.add(b.poolId()));
        }
        // b: 0.1 s prefill + 0.01 s decode per job; a: 0.9 s + 0.01 s. b wins while its backlog is ≤ 0.8 s:
        // backlogs 0, 0.11, …, 0.77 take 8 jobs; the 9th would wait 0.88 s on b, so it goes to idle a
        assertThat(chosen).containsExactly("b", "b", "b", "b", "b", "b", "b", "b", "a");

        DispatchScheduler blind = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(8).withPrefix(100, 0.0),
                twins, RoutingPolicies.estimatedCompletion(), hotOnB);
        List<String> blindChosen = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            blind.enqueue(job("j" + i, 900, 0, prefix));
            blind.formBatches(50).forEach(b -> blindChosen.add(b.poolId()));
        }
        assertThat(blindChosen).as("prefix weight 0: spread by load").containsExactly("a", "b", "a", "b");
    }

    @Test
    void hotPrefixSpillsOverWhenItsPoolIsBacklogged() {
        List<PoolProfile> twins = List.of(Fixtures.pool("a", "m", 1, 1000, 1, Fixtures.linear(1000, 0.001)),
                Fixtures.pool("b", "m", 1, 1000, 1, Fixtures.linear(1000, 0.001)));
        DispatchScheduler s = new DispatchScheduler(CFG.withMaxInFlightBatchesPerInstance(20), twins,
                RoutingPolicies.estimatedCompletion(), hashes -> Map.of("b", hashes.size()));
        List<Long> prefix = List.of(1L, 2L, 3L, 4L, 5L); // 500 of 900 cached on b: saves 0.5 s
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            s.enqueue(job("j" + i, 900, 0, prefix));
            s.formBatches(50).forEach(b -> chosen.add(b.poolId()));
        }
        long onB = chosen.stream().filter("b"::equals).count();
        assertThat(onB).as("the hot pool gets more, but not everything").isGreaterThan(6).isLessThan(12);
    }
}
