package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.job.JobLane;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Headroom credits, in virtual time: a pool keeps its last free credit(s) for work below its share — interactive work
 * while the batch lane runs, tenants holding less than their weighted share — and gives them up when that class goes
 * quiet for the window, so a reserved credit never makes a job wait for ever.
 */
class HeadroomTest {

    private static final long WINDOW = 10_000;

    /** One pool, one instance, 4 credits, one sequence per batch (a batch = one job). */
    private static DispatchScheduler scheduler(int headroom, FairnessConfig fairness) {
        return scheduler(headroom, fairness, 1);
    }

    /** One pool, one instance, 4 credits, batches of up to {@code sequences} jobs. */
    private static DispatchScheduler scheduler(int headroom, FairnessConfig fairness, int sequences) {
        DispatchConfig cfg = Fixtures.config().withMaxInFlightBatchesPerInstance(4).withBatchPromotionAfterMs(600_000)
                .withHeadroom(headroom, WINDOW);
        return new DispatchScheduler(cfg, fairness,
                List.of(Fixtures.pool("p", "m", 1, 10_000, sequences, Fixtures.linear(1000, 0.001))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
    }

    private static QueuedJob job(String id, String tenant, JobLane lane, long at) {
        return Fixtures.job(id, tenant, lane, 200, 10, at, null);
    }

    /** An interactive job at t=0 that ran and ended, then ten batch-lane jobs at t=1. */
    private static DispatchScheduler afterInteractive(int headroom) {
        DispatchScheduler s = scheduler(headroom, FairnessConfig.defaults());
        s.enqueue(job("i0", "t", INTERACTIVE, 0));
        List<BatchPlan> first = s.formBatches(0);
        assertThat(first).hasSize(1);
        s.batchFinished("p", first.get(0).batchId(), 1);
        for (int i = 0; i < 10; i++) {
            s.enqueue(job("b" + i, "t", BATCH, 1));
        }
        return s;
    }

    @Test
    void theBatchLaneLeavesTheReserveWhileInteractiveWorkIsRecentAndTakesItAfterTheWindow() {
        DispatchScheduler s = afterInteractive(1);
        assertThat(s.formBatches(2_000)).hasSize(3);
        assertThat(s.freeBatchCredits("p")).isEqualTo(1);
        assertThat(s.reservedCredits("p")).isEqualTo(1);
        // nothing else happens, yet the loop is woken when the reservation lapses: no batch job waits for ever
        assertThat(s.nextDecisionAtMs(2_000)).isEqualTo(WINDOW);
        assertThat(s.formBatches(WINDOW - 1)).isEmpty();
        assertThat(s.formBatches(WINDOW)).hasSize(1);
        assertThat(s.freeBatchCredits("p")).isZero();
    }

    @Test
    void aBatchLaneThatIsBeingServedIsNotPromotedOverTheReserve() {
        DispatchConfig cfg = Fixtures.config().withMaxInFlightBatchesPerInstance(4).withBatchPromotionAfterMs(1_000)
                .withHeadroom(1, WINDOW);
        DispatchScheduler s = new DispatchScheduler(cfg, FairnessConfig.defaults(),
                List.of(Fixtures.pool("p", "m", 1, 10_000, 1, Fixtures.linear(1000, 0.001))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
        s.enqueue(job("i0", "t", INTERACTIVE, 0));
        s.batchFinished("p", s.formBatches(0).get(0).batchId(), 1);
        for (int i = 0; i < 40; i++) {
            s.enqueue(job("b" + i, "t", BATCH, 1));
        }
        List<BatchPlan> inFlight = new ArrayList<>(s.formBatches(200));
        assertThat(inFlight).hasSize(3);
        // the jobs' age passes the promotion time, but the lane gets a batch every 200 ms: the reserve stays
        for (long t = 400; t < 5_000; t += 200) {
            s.batchFinished("p", inFlight.remove(0).batchId(), t);
            inFlight.addAll(s.formBatches(t));
            assertThat(s.freeBatchCredits("p")).as("t=" + t).isEqualTo(1);
        }
    }

    @Test
    void anInteractiveJobTakesTheReservedCreditAtOnce() {
        DispatchScheduler s = afterInteractive(1);
        assertThat(s.formBatches(2_000)).hasSize(3);
        s.enqueue(job("i1", "t", INTERACTIVE, 3_000));
        List<BatchPlan> plans = s.formBatches(3_000);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).jobs()).extracting(QueuedJob::jobId).containsExactly("i1");
    }

    /**
     * Batches of up to 8 jobs, so a lone interactive job is not a full batch; on an instance busy with the batch lane,
     * without the reserve it would wait the interactive max wait (10 ms) for company.
     */
    @Test
    void anInteractiveJobOnABusyInstanceGoesAtOnceOnTheReserveInsteadOfWaitingToFillABatch() {
        DispatchScheduler s = scheduler(1, FairnessConfig.defaults(), 8);
        s.enqueue(job("i0", "t", INTERACTIVE, 0));
        s.batchFinished("p", s.formBatches(0).get(0).batchId(), 1); // the instance was idle: sent at once
        for (int i = 0; i < 40; i++) {
            s.enqueue(job("b" + i, "t", BATCH, 1));
        }
        assertThat(s.formBatches(200)).hasSize(3);
        assertThat(s.reservedCredits("p")).isEqualTo(1);
        s.enqueue(job("i1", "t", INTERACTIVE, 3_000));
        List<BatchPlan> plans = s.formBatches(3_000);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).jobs()).extracting(QueuedJob::jobId).containsExactly("i1");
    }

    @Test
    void withoutAReserveAnInteractiveJobOnABusyInstanceWaitsItsMaxWaitForCompany() {
        DispatchScheduler s = scheduler(0, FairnessConfig.defaults(), 8);
        for (int i = 0; i < 16; i++) {
            s.enqueue(job("b" + i, "t", BATCH, 1));
        }
        assertThat(s.formBatches(200)).hasSize(2); // two credits left free, but no idle instance
        s.enqueue(job("i1", "t", INTERACTIVE, 3_000));
        assertThat(s.formBatches(3_000)).isEmpty();
        assertThat(s.formBatches(3_010)).singleElement().satisfies(p ->
                assertThat(p.jobs()).extracting(QueuedJob::jobId).containsExactly("i1"));
    }

    @Test
    void withNoInteractiveTrafficTheBatchLaneUsesEveryCredit() {
        DispatchScheduler s = scheduler(1, FairnessConfig.defaults());
        for (int i = 0; i < 10; i++) {
            s.enqueue(job("b" + i, "t", BATCH, 1));
        }
        assertThat(s.formBatches(2_000)).hasSize(4);
        assertThat(s.reservedCredits("p")).isZero();
    }

    @Test
    void headroomZeroIsFullyWorkConserving() {
        DispatchScheduler s = afterInteractive(0);
        assertThat(s.formBatches(2_000)).hasSize(4);
        assertThat(s.reservedCredits("p")).isZero();
    }

    @Test
    void theReserveNeverTakesAPoolsOnlyCredit() {
        DispatchScheduler s = afterInteractive(5);
        // 4 credits, headroom 5: the reserve is capped at credits − 1, so the batch lane still gets one
        assertThat(s.formBatches(2_000)).hasSize(1);
        // a pool lowered to one credit (engine back-pressure) reserves nothing
        DispatchScheduler t = afterInteractive(5);
        t.setBatchCredits("p", 1);
        assertThat(t.formBatches(2_000)).hasSize(1);
    }

    /**
     * Light was seen at t=0 (one job, run and ended); heavy floods at t=2. Two active tenants of weight 1: each is
     * entitled to 2 of the 4 credits. Heavy takes its 2, then a third (the non-reserved one), and is held from the last.
     */
    private static DispatchScheduler heavyFloodAfterLight() {
        DispatchScheduler s = scheduler(1, FairnessConfig.defaults());
        s.enqueue(job("l0", "light", INTERACTIVE, 0));
        List<BatchPlan> first = s.formBatches(0);
        assertThat(first).hasSize(1);
        s.batchFinished("p", first.get(0).batchId(), 1);
        for (int i = 0; i < 10; i++) {
            s.enqueue(job("h" + i, "heavy", INTERACTIVE, 2));
        }
        return s;
    }

    @Test
    void aTenantAtItsShareCannotTakeTheReserveATenantBelowItCan() {
        DispatchScheduler s = heavyFloodAfterLight();
        List<BatchPlan> heavy = s.formBatches(2);
        assertThat(heavy).hasSize(3);
        assertThat(s.freeBatchCredits("p")).isEqualTo(1);
        s.enqueue(job("l1", "light", INTERACTIVE, 3));
        List<BatchPlan> plans = s.formBatches(3);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).jobs()).extracting(QueuedJob::tenant).containsExactly("light");
    }

    @Test
    void whenTheOtherTenantGoesQuietTheReserveIsReleased() {
        DispatchScheduler s = heavyFloodAfterLight();
        assertThat(s.formBatches(2)).hasSize(3);
        assertThat(s.formBatches(5)).isEmpty();
        // light was last seen at t=0 (its dispatch): at WINDOW it no longer counts, heavy is alone; until then the
        // wake-ups (max wait, ...) dispatch nothing, and the last one asked for is the window's end
        long now = 5;
        while (s.nextDecisionAtMs(now) < WINDOW) {
            now = s.nextDecisionAtMs(now);
            assertThat(s.formBatches(now)).isEmpty();
        }
        long wake = s.nextDecisionAtMs(now);
        assertThat(wake).isEqualTo(WINDOW);
        List<BatchPlan> plans = s.formBatches(wake);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).jobs()).extracting(QueuedJob::tenant).containsExactly("heavy");
    }

    @Test
    void aTenantAloneHasNoReservationCost() {
        DispatchScheduler s = scheduler(1, FairnessConfig.defaults());
        for (int i = 0; i < 10; i++) {
            s.enqueue(job("h" + i, "heavy", INTERACTIVE, 0));
        }
        assertThat(s.formBatches(1)).hasSize(4);
    }

    @Test
    void everyJobIsEventuallyDispatchedWhateverTheReservation() {
        // two tenants and both lanes, batches finishing one by one: the queue drains, each step woken by an event or
        // by nextDecisionAtMs
        DispatchScheduler s = scheduler(2, FairnessConfig.defaults());
        for (int i = 0; i < 20; i++) {
            s.enqueue(job("h" + i, "heavy", INTERACTIVE, i));
            s.enqueue(job("b" + i, "light", BATCH, i));
        }
        s.enqueue(job("l0", "light", INTERACTIVE, 30));
        long now = 30;
        List<BatchPlan> inFlight = new ArrayList<>();
        int steps = 0;
        while (s.queuedJobs() > 0 && steps++ < 1_000) {
            inFlight.addAll(s.formBatches(now));
            if (!inFlight.isEmpty()) {
                BatchPlan done = inFlight.remove(0);
                now += 100;
                s.batchFinished("p", done.batchId(), now);
            } else {
                long next = s.nextDecisionAtMs(now);
                assertThat(next).as("a queued job with nothing in flight must have a wake-up").isNotEqualTo(Long.MAX_VALUE);
                now = next;
            }
        }
        assertThat(s.queuedJobs()).isZero();
    }
}
