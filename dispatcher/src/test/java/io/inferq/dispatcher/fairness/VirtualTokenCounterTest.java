package io.inferq.dispatcher.fairness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The counter on its own: charges, weights, lifting idle tenants, the affinity budget and the fair-share estimate. */
class VirtualTokenCounterTest {

    private static final FairnessConfig CFG = FairnessConfig.defaults().withAffinityBudgetTokens(1000);

    @Test
    void serviceIsUncachedPrefillPlusWeightedDecodeDividedByTheTenantsWeight() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG.withTenantWeights(Map.of("gold", 2.0)));
        vtc.queued("a", 1);
        vtc.queued("gold", 1);
        assertThat(vtc.charge("a", 1000, 100)).isEqualTo(1200.0);
        assertThat(vtc.charge("gold", 1000, 100)).isEqualTo(1200.0);
        assertThat(vtc.counter("a")).isEqualTo(1200.0);
        assertThat(vtc.counter("gold")).as("weight 2: half the counter for the same service").isEqualTo(600.0);
        assertThat(vtc.service("gold")).isEqualTo(1200.0);
        assertThat(vtc.counterIncrement("gold", 1000, 100)).isEqualTo(600.0);
    }

    @Test
    void aTenantReturningFromIdleIsLiftedToTheLowestBackloggedCounterAndBanksNothing() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG);
        vtc.queued("a", 10);
        vtc.queued("b", 10);
        vtc.charge("a", 500, 0);
        vtc.charge("b", 300, 0);
        vtc.left("b", 10); // b goes idle at 300
        for (int i = 0; i < 10; i++) {
            vtc.charge("a", 1000, 0); // a alone is served for a long time
        }
        assertThat(vtc.counter("a")).isEqualTo(10_500.0);
        assertThat(vtc.queued("b", 10)).as("b is backlogged again").isTrue();
        assertThat(vtc.counter("b")).as("lifted to a's counter: the idle time is not saved up").isEqualTo(10_500.0);
        assertThat(vtc.queued("b", 10)).as("a second job does not lift again").isFalse();

        // a tenant never seen starts level with the backlogged ones, not at zero
        vtc.queued("new", 5);
        assertThat(vtc.counter("new")).isEqualTo(10_500.0);
    }

    @Test
    void whenNobodyIsBackloggedAReturningTenantIsLiftedToTheLastOneToLeave() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG);
        vtc.queued("a", 1);
        vtc.charge("a", 4000, 0);
        vtc.left("a", 1);
        assertThat(vtc.backloggedTenants()).isZero();
        assertThat(Double.isNaN(vtc.minBackloggedCounter())).isTrue();
        vtc.queued("b", 1);
        assertThat(vtc.counter("b")).isEqualTo(4000.0);
        // a counter above the floor is kept (no reset downwards either)
        vtc.left("b", 1);
        vtc.queued("b", 1);
        assertThat(vtc.counter("b")).isEqualTo(4000.0);
    }

    @Test
    void leavingMoreThanQueuedOrAnUnknownTenantIsIgnored() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG);
        vtc.left("ghost", 5);
        vtc.queued("a", 5);
        vtc.left("a", 5);
        vtc.left("a", 5);
        assertThat(vtc.backlog("a")).isZero();
        assertThat(vtc.backloggedTenants()).isZero();
        assertThat(vtc.queuedWork("a")).isZero();
    }

    @Test
    void affinityMayFavourATenantOnlyWithinTheBudgetAboveTheLeastServed() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG);
        vtc.queued("a", 1);
        vtc.queued("b", 1);
        vtc.charge("a", 1000, 0);
        assertThat(vtc.withinAffinityBudget("a")).as("exactly the budget ahead").isTrue();
        vtc.charge("a", 1, 0);
        assertThat(vtc.withinAffinityBudget("a")).isFalse();
        assertThat(vtc.withinAffinityBudget("b")).isTrue();
        // once b leaves, a is the least served backlogged tenant
        vtc.left("b", 1);
        assertThat(vtc.withinAffinityBudget("a")).isTrue();
    }

    @Test
    void theFairShareEstimateCountsOtherTenantsUpToTheirWeightedShare() {
        VirtualTokenCounter vtc = new VirtualTokenCounter(CFG.withTenantWeights(Map.of("gold", 2.0)));
        vtc.queued("heavy", 100_000);
        vtc.queued("gold", 300);
        // a light job of 100: heavy is served as much as light meanwhile (100), gold twice that but only has 300
        assertThat(vtc.fairWorkAhead("light", 100)).isEqualTo(100 + 100 + 200.0);
        assertThat(vtc.fairWorkAhead("light", 1000)).isEqualTo(1000 + 1000 + 300.0);
        // gold's own 300: heavy gets half of it meanwhile
        assertThat(vtc.fairWorkAhead("gold", 300)).isEqualTo(300 + 150.0);
    }

    @Test
    void theSnapshotAgreesWithTheDirectEstimate() {
        SplittableRandom r = new SplittableRandom(3);
        for (int round = 0; round < 50; round++) {
            VirtualTokenCounter vtc = new VirtualTokenCounter(CFG.withTenantWeights(Map.of("t1", 2.0, "t3", 0.5)));
            int tenants = 1 + r.nextInt(6);
            for (int i = 0; i < 3 * tenants; i++) {
                vtc.queued("t" + r.nextInt(tenants), 1 + r.nextInt(5000));
            }
            VirtualTokenCounter.FairWork snapshot = vtc.snapshot();
            for (String t : vtc.tenants()) {
                long own = 1 + r.nextLong(Math.max(1, vtc.queuedWork(t)));
                assertThat(snapshot.ahead(t, own)).as("tenant %s, own %d", t, own)
                        .isCloseTo(vtc.fairWorkAhead(t, own), within(1e-6));
            }
        }
    }

    @Test
    void settingsAreValidatedWithTheirNames() {
        assertThatThrownBy(() -> FairnessConfig.defaults().withServiceWeights(0, 1))
                .hasMessageContaining("prefillWeight");
        assertThatThrownBy(() -> FairnessConfig.defaults().withServiceWeights(1, -2))
                .hasMessageContaining("decodeWeight");
        assertThatThrownBy(() -> FairnessConfig.defaults().withAffinityBudgetTokens(-1))
                .hasMessageContaining("affinityBudgetTokens");
        assertThatThrownBy(() -> FairnessConfig.defaults().withTenantWeights(Map.of("x", 0.0)))
                .hasMessageContaining("tenantWeights[x]");
        assertThat(FairnessConfig.defaults().weightOf("anyone")).isEqualTo(1.0);
        assertThat(FairnessConfig.oldestFirst().enabled()).isFalse();
    }
}
