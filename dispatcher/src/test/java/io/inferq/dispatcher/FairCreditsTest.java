package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.dispatcher.fairness.FairnessConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fair credits, in virtual time: each pool instance has, on top of its batch credits, as many fair credits as the pool's
 * sequence cap, which only interactive work of a tenant below its weighted share of the in-flight work may take, sent at
 * once. A flooding tenant keeps the batch credits it had and never takes a fair one.
 */
class FairCreditsTest {

    /** Interactive max wait: far longer than any wait these tests expect, so "sent at once" is not the max wait. */
    private static final long MAX_WAIT = 1_000;

    /** One pool of one instance, one batch credit, batches of at most 2 sequences (so 2 fair credits). */
    private static DispatchScheduler scheduler(FairnessConfig fairness) {
        return new DispatchScheduler(Fixtures.config().withMaxWaits(MAX_WAIT, MAX_WAIT), fairness,
                List.of(Fixtures.pool("p", "m", 1, 10_000, 2, Fixtures.linear(1000, 0.001))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
    }

    private static QueuedJob job(String id, String tenant, int prompt, long at) {
        return Fixtures.job(id, tenant, INTERACTIVE, prompt, 10, at, null);
    }

    /** The heavy tenant holds the pool's one batch credit with a full batch and has 20 more jobs queued. */
    private static DispatchScheduler flooded(FairnessConfig fairness) {
        DispatchScheduler s = scheduler(fairness);
        for (int i = 0; i < 22; i++) {
            s.enqueue(job("h" + i, "heavy", 2_000, 0));
        }
        List<BatchPlan> first = s.formBatches(0);
        assertThat(first).hasSize(1);
        assertThat(first.get(0).jobs()).hasSize(2);
        assertThat(s.freeBatchCredits("p")).isZero();
        return s;
    }

    private static List<String> tenants(List<BatchPlan> plans) {
        List<String> out = new ArrayList<>();
        plans.forEach(p -> p.jobs().forEach(j -> out.add(j.tenant())));
        return out;
    }

    @Test
    void aTenantBelowItsShareIsSentAtOnceWhileAFloodHoldsEveryBatchCredit() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        s.enqueue(job("l0", "light", 100, 5));
        List<BatchPlan> plans = s.formBatches(5);
        // at its arrival: no idle instance, no free batch credit, its max wait far off — yet it goes, and with HIGH priority
        assertThat(tenants(plans)).containsExactly("light");
        assertThat(plans.get(0).enginePriority()).isEqualTo(EnginePriority.HIGH);
        // the heavy tenant got nothing more: its jobs stay in the queue, where the fair order applies
        assertThat(s.queuedJobs()).isEqualTo(20);
    }

    @Test
    void fairCreditsAreOnByDefault() {
        assertThat(FairnessConfig.defaults().fairCredits()).isTrue();
    }

    @Test
    void withoutFairCreditsTheLightJobWaitsForTheFloodsCredit() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(false));
        s.enqueue(job("l0", "light", 100, 5));
        assertThat(s.formBatches(5)).isEmpty();
        assertThat(s.formBatches(5 + MAX_WAIT)).as("ready, but no credit").isEmpty();
    }

    @Test
    void fairCreditsAreTheSequenceCapPerInstanceAndComeBackWhenTheirBatchesEnd() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        List<BatchPlan> light = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            s.enqueue(job("l" + i, "light", 100, 5 + i));
            light.addAll(s.formBatches(5 + i));
        }
        // two fair credits (1 instance × 2 sequences): the third light job waits
        assertThat(light).hasSize(2);
        assertThat(s.isQueued("l2")).isTrue();
        s.batchFinished("p", light.get(0).batchId(), 20);
        List<BatchPlan> next = s.formBatches(20);
        assertThat(tenants(next)).containsExactly("light");
        assertThat(s.isQueued("l2")).isFalse();
    }

    @Test
    void aTenantAtItsShareOfTheWorkInFlightTakesNoFairCredit() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        // light sends a job as large as heavy's whole batch: with it, light would hold more than half the work in flight
        s.enqueue(job("l0", "light", 5_000, 5));
        assertThat(s.formBatches(5)).isEmpty();
        assertThat(s.isQueued("l0")).isTrue();
    }

    @Test
    void weightsScaleTheShare() {
        // the same large job of a tenant of weight 3 is within its share (3/4 of the work in flight)
        DispatchScheduler s = flooded(FairnessConfig.defaults().withTenantWeights(Map.of("gold", 3.0)).withFairCredits(true));
        s.enqueue(job("g0", "gold", 5_000, 5));
        assertThat(tenants(s.formBatches(5))).containsExactly("gold");
    }

    @Test
    void aTenantAloneTakesNoFairCreditAndWaitsAsBefore() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        s.enqueue(job("h99", "heavy", 100, 5));
        assertThat(s.formBatches(5)).isEmpty();
        assertThat(s.formBatches(5 + MAX_WAIT)).isEmpty();
        assertThat(s.queuedJobs()).isEqualTo(21);
    }

    @Test
    void aFairBatchTakesOnlyTheJobsOfTenantsBelowTheirShare() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        // a light job in the same length bucket as heavy's queued jobs: the fair batch takes the light job alone
        s.enqueue(job("l0", "light", 2_000, 5));
        List<BatchPlan> plans = s.formBatches(5);
        assertThat(tenants(plans)).containsExactly("light");
        assertThat(s.queuedJobs()).isEqualTo(20);
    }

    @Test
    void theFloodKeepsItsBatchCreditsWhileFairBatchesRun() {
        DispatchScheduler s = scheduler(FairnessConfig.defaults().withFairCredits(true));
        s.enqueue(job("h0", "heavy", 2_000, 0));
        BatchPlan heavy = s.formBatches(0).get(0);
        s.enqueue(job("l0", "light", 100, 1));
        s.enqueue(job("l1", "light", 100, 2));
        assertThat(tenants(s.formBatches(2))).containsExactly("light", "light");
        for (int i = 1; i < 5; i++) {
            s.enqueue(job("h" + i, "heavy", 2_000, 3));
        }
        // heavy's batch ends: its credit is free again although both fair batches still run
        s.batchFinished("p", heavy.batchId(), 10);
        assertThat(tenants(s.formBatches(10))).containsExactly("heavy", "heavy");
    }

    @Test
    void theBatchLaneAndFairSharingOffTakeNoFairCredit() {
        DispatchScheduler s = flooded(FairnessConfig.defaults().withFairCredits(true));
        s.enqueue(Fixtures.job("b0", "light", BATCH, 100, 10, 5, null));
        assertThat(s.formBatches(5 + MAX_WAIT)).isEmpty();
        DispatchScheduler off = flooded(FairnessConfig.oldestFirst());
        off.enqueue(job("l0", "light", 100, 5));
        assertThat(off.formBatches(5 + MAX_WAIT)).isEmpty();
    }

    @Test
    void aBatchSetAsideAddsNoBacklogToItsInstance() {
        PoolLedger ledger = new PoolLedger(Fixtures.pool("p", "m", 1, 10_000, 2, Fixtures.linear(1000, 0.001)), 4);
        ledger.add("heavy", 2, 4_000, 10.0, 0);
        ledger.add("fair", 1, 100, 3.0, 0);
        assertThat(ledger.aheadSeconds(0)).isEqualTo(13.0);
        ledger.aside("fair");
        // the fair batch runs beside the heavy one: a batch sent now waits only for the heavy batch's estimate
        assertThat(ledger.aheadSeconds(0)).isEqualTo(10.0);
        assertThat(ledger.inFlightBatches()).isEqualTo(2);
        assertThat(ledger.finish("fair", 1_000)).isTrue();
        // ending it neither frees the instance nor restarts the heavy batch's clock
        assertThat(ledger.aheadSeconds(1_000)).isEqualTo(9.0);
        assertThat(ledger.hasIdleInstance()).isFalse();
    }

    @Test
    void everyJobIsEventuallyDispatched() {
        DispatchScheduler s = scheduler(FairnessConfig.defaults().withTenantWeights(Map.of("gold", 2.0)).withFairCredits(true));
        List<BatchPlan> inFlight = new ArrayList<>();
        int sent = 0;
        long now = 0;
        String[] names = {"heavy", "heavy", "heavy", "light", "gold"};
        for (int i = 0; i < 60; i++) {
            s.enqueue(job("j" + i, names[i % names.length], i % 3 == 0 ? 2_000 : 100, now));
            inFlight.addAll(s.formBatches(now));
            now += 7;
            if (i % 2 == 0 && !inFlight.isEmpty()) {
                BatchPlan done = inFlight.remove(0);
                sent += done.jobs().size();
                s.batchFinished("p", done.batchId(), now);
                inFlight.addAll(s.formBatches(now));
            }
        }
        while (!inFlight.isEmpty() || s.queuedJobs() > 0) {
            now += Math.max(1, Math.min(s.nextDecisionAtMs(now), now + 50) - now);
            if (!inFlight.isEmpty()) {
                BatchPlan done = inFlight.remove(0);
                sent += done.jobs().size();
                s.batchFinished("p", done.batchId(), now);
            }
            inFlight.addAll(s.formBatches(now));
            assertThat(now).as("drains").isLessThan(1_000_000);
        }
        assertThat(sent).isEqualTo(60);
    }
}
