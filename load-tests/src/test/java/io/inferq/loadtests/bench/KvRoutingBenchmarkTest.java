package io.inferq.loadtests.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.loadtests.policy.PolicySimulator;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The simulated engines' KV events keep the precise locator in step with what each engine instance really holds. */
class KvRoutingBenchmarkTest {

    @Test
    void preciseLocatorSeesExactlyWhatEachInstanceHoldsThroughEvictions() {
        List<PoolProfile> pools = new PolicySimulator(PolicySimulator.Settings.defaults()).poolProfiles();
        KvRoutingBenchmark.Engines engines = new KvRoutingBenchmark.Engines(pools,
                Map.of("h800", 12, "mi300x", 12, "ascend-910b", 12, "mtt-s4000", 12), "precise", 16);
        PrefixLocator locator = engines.locator();
        Random rnd = new Random(7);
        List<List<Long>> prompts = new ArrayList<>();
        long next = 1000;
        int evictedSomewhere = 0;
        for (int i = 0; i < 60; i++) {
            List<Long> p = new ArrayList<>();
            p.add(0L); // a shared system prompt
            if (!prompts.isEmpty() && rnd.nextBoolean()) {
                p.clear();
                p.addAll(prompts.get(rnd.nextInt(prompts.size()))); // a later turn of an earlier conversation
            }
            for (int k = rnd.nextInt(6); k >= 0; k--) {
                p.add(next++);
            }
            prompts.add(List.copyOf(p));
            PoolProfile pool = pools.get(rnd.nextInt(pools.size()));
            engines.store(pool.poolId(), rnd.nextInt(pool.instances()), p);
            for (List<Long> q : prompts) {
                for (PoolProfile pp : pools) {
                    int[] seen = locator.cachedLeadingBlocksByInstance(pp.poolId(), q);
                    assertThat(seen).hasSize(pp.instances());
                    int best = 0;
                    for (int inst = 0; inst < pp.instances(); inst++) {
                        int held = engines.leadingCached(pp.poolId(), inst, q);
                        assertThat(seen[inst]).as("%s/%d, prompt %s", pp.poolId(), inst, q).isEqualTo(held);
                        best = Math.max(best, held);
                    }
                    assertThat(locator.cachedLeadingBlocksByPool(q).getOrDefault(pp.poolId(), 0)).isEqualTo(best);
                }
            }
        }
        for (List<Long> q : prompts) {
            boolean somewhere = false;
            for (PoolProfile pp : pools) {
                for (int inst = 0; inst < pp.instances(); inst++) {
                    somewhere |= engines.leadingCached(pp.poolId(), inst, q) == q.size();
                }
            }
            evictedSomewhere += somewhere ? 0 : 1;
        }
        assertThat(evictedSomewhere).as("the caches are small enough to evict").isPositive();
        assertThat(engines.eventBatches).isEqualTo(60);
    }

    @Test
    void approximateIndexRemembersWhereJobsWentButNotTheEvictions() {
        List<PoolProfile> pools = new PolicySimulator(PolicySimulator.Settings.defaults()).poolProfiles();
        KvRoutingBenchmark.Engines engines = new KvRoutingBenchmark.Engines(pools,
                Map.of("h800", 3, "mi300x", 3, "ascend-910b", 3, "mtt-s4000", 3), "approximate", 16);
        engines.store("mi300x", 0, List.of(1L, 2L, 3L));
        engines.store("mi300x", 0, List.of(7L, 8L, 9L));
        assertThat(engines.leadingCached("mi300x", 0, List.of(1L, 2L, 3L))).isZero();
        assertThat(engines.locator().cachedLeadingBlocksByPool(List.of(1L, 2L, 3L))).containsEntry("mi300x", 3);
        assertThat(engines.eventBatches).isZero();
    }
}
