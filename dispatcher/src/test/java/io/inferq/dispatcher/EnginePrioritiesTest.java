package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.job.JobLane;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EnginePrioritiesTest {
    private final Map<String, Double> weights = Map.of("gold", 2.0);
    private final EnginePriorities priorities = new EnginePriorities(FairnessConfig.defaults().withTenantWeights(weights));
    private int seq;

    private BatchPlan plan(String tenant, JobLane lane) {
        seq++;
        return new BatchPlan("b" + seq, "p", 100, List.of(Fixtures.job("j" + seq, tenant, lane, 50, 10, 0, null)), 0);
    }

    @Test
    void aTenantAloneIsNormalAndBatchLaneIsBatch() {
        assertThat(priorities.assign(plan("heavy", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.NORMAL);
        assertThat(priorities.assign(plan("heavy", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.NORMAL);
        assertThat(priorities.assign(plan("light", JobLane.BATCH)).enginePriority()).isEqualTo(EnginePriority.BATCH);
    }

    @Test
    void aTenantBelowItsWeightedShareIsHighUntilItReachesIt() {
        BatchPlan h1 = priorities.assign(plan("heavy", JobLane.INTERACTIVE));
        priorities.assign(plan("heavy", JobLane.INTERACTIVE));
        priorities.assign(plan("heavy", JobLane.INTERACTIVE));
        // equal batches, so work counts as batches do: light 1 of 4 in flight, share 2 → high; 2 of 5, share 2.5 → high;
        // 3 of 6, share 3 → high; 4 of 7 → normal
        assertThat(priorities.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
        assertThat(priorities.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
        assertThat(priorities.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
        assertThat(priorities.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.NORMAL);
        // heavy (3 of 7 held) is below its half again once light holds 4
        assertThat(priorities.assign(plan("heavy", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
        // finished batches stop counting
        priorities.finished(h1.batchId());
        priorities.finished(h1.batchId()); // idempotent
        assertThat(priorities.assign(plan("heavy", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
    }

    @Test
    void theShareIsCountedInWorkNotInBatches() {
        // heavy: two full batches of 1,000-token jobs; light: ten one-job batches of 60 tokens — more batches, little work
        for (int i = 0; i < 2; i++) {
            seq++;
            priorities.assign(new BatchPlan("h" + seq, "p", 2_000, List.of(Fixtures.job("hj" + seq, "heavy",
                    JobLane.INTERACTIVE, 990, 10, 0, null)), 0));
        }
        for (int i = 0; i < 10; i++) {
            assertThat(priorities.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).as("light batch " + i)
                    .isEqualTo(EnginePriority.HIGH);
        }
    }

    @Test
    void withFairSharingOffNothingIsHigh() {
        EnginePriorities off = new EnginePriorities(FairnessConfig.oldestFirst());
        off.assign(plan("heavy", JobLane.INTERACTIVE));
        assertThat(off.assign(plan("light", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.NORMAL);
    }

    @Test
    void weightsScaleTheShare() {
        for (int i = 0; i < 4; i++) {
            priorities.assign(plan("heavy", JobLane.INTERACTIVE));
        }
        priorities.assign(plan("gold", JobLane.INTERACTIVE));
        priorities.assign(plan("gold", JobLane.INTERACTIVE));
        priorities.assign(plan("gold", JobLane.INTERACTIVE));
        // gold (weight 2) with 4 of 8: share 8 × 2/3 = 5.3 → still high
        assertThat(priorities.assign(plan("gold", JobLane.INTERACTIVE)).enginePriority()).isEqualTo(EnginePriority.HIGH);
    }

    @Test
    void theSchedulerSetsThePriorityOnItsPlans() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config(),
                List.of(Fixtures.pool("p", "m", 2, 10_000, 8, Fixtures.linear(1_000, 0.01))), RoutingPolicies.byName("ect", 1),
                PrefixLocator.NONE);
        s.enqueue(Fixtures.job("a", "t1", JobLane.BATCH, 50, 10, 0, null));
        List<BatchPlan> plans = s.formBatches(1_000);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).enginePriority()).isEqualTo(EnginePriority.BATCH);
    }
}
