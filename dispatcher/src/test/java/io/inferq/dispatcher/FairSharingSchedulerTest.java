package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fair sharing in the scheduler, driven in virtual time (the scheduler takes {@code nowMs}; the test is its clock): which
 * tenant's jobs each batch takes, with weights, idle tenants, deadlines, both lanes and prefix affinity.
 */
class FairSharingSchedulerTest {

    /**
     * One pool, one instance, one credit, one sequence per batch: dispatch order is the scheduler's order. Without fair
     * credits (those let a tenant below its share past the one credit: {@code FairCreditsTest}), so the order is the
     * counter's.
     */
    private static DispatchScheduler oneAtATime(FairnessConfig fairness) {
        return new DispatchScheduler(Fixtures.config().withMaxWaits(0, 0), fairness.withFairCredits(false),
                List.of(Fixtures.pool("p", "m", 1, 10_000, 1, Fixtures.linear(1000, 0.001))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
    }

    private static QueuedJob job(String id, String tenant, int prompt, long at) {
        return Fixtures.job(id, tenant, INTERACTIVE, prompt, 10, at, null);
    }

    /** Runs {@code n} one-job batches, finishing each before the next; the tenants in dispatch order. */
    private static List<String> drain(DispatchScheduler s, int n, long[] now) {
        List<String> tenants = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<BatchPlan> plans = s.formBatches(++now[0]);
            if (plans.isEmpty()) {
                break;
            }
            assertThat(plans).hasSize(1);
            tenants.add(plans.get(0).jobs().get(0).tenant());
            s.batchFinished("p", plans.get(0).batchId(), ++now[0]);
        }
        return tenants;
    }

    @Test
    void aLightTenantIsServedBetweenTheHeavyTenantsJobsNotAfterThem() {
        for (boolean fair : List.of(true, false)) {
            DispatchScheduler s = oneAtATime(fair ? FairnessConfig.defaults() : FairnessConfig.oldestFirst());
            for (int i = 0; i < 40; i++) {
                s.enqueue(job("h" + i, "heavy", 2000, i));
            }
            s.enqueue(job("l0", "light", 100, 50));
            s.enqueue(job("l1", "light", 100, 51));
            List<String> order = drain(s, 42, new long[] {100});
            if (fair) {
                // the oldest job goes first (equal counters); then light's two cheap jobs, still below heavy's counter
                assertThat(order.subList(0, 3)).as("fair: " + order).containsExactly("heavy", "light", "light");
            } else {
                assertThat(order.indexOf("light")).as("oldest-first: " + order).isEqualTo(40);
            }
        }
    }

    @Test
    void aTenantOfWeightTwoGetsTwiceTheServiceWhileBothAreBacklogged() {
        DispatchScheduler s = oneAtATime(FairnessConfig.defaults().withTenantWeights(Map.of("gold", 2.0)));
        for (int i = 0; i < 60; i++) {
            s.enqueue(job("s" + i, "silver", 500, i));
            s.enqueue(job("g" + i, "gold", 500, i));
        }
        List<String> order = drain(s, 30, new long[] {100});
        long gold = order.stream().filter("gold"::equals).count();
        assertThat(gold).as(order.toString()).isBetween(19L, 21L);
        VirtualTokenCounter vtc = s.fairShare("m", INTERACTIVE);
        assertThat(vtc.service("gold") / vtc.service("silver")).isBetween(1.8, 2.25);
        // counters stay within one job's charge of each other
        assertThat(Math.abs(vtc.counter("gold") - vtc.counter("silver"))).isLessThanOrEqualTo(500 + 2 * 10);
    }

    @Test
    void aTenantThatWasIdleDoesNotGetABurstOfCreditWhenItReturns() {
        DispatchScheduler s = oneAtATime(FairnessConfig.defaults());
        long[] now = {0};
        s.enqueue(job("b0", "b", 500, now[0]));
        drain(s, 1, now); // b was served once, then went idle
        for (int i = 0; i < 30; i++) {
            s.enqueue(job("a" + i, "a", 500, now[0]));
        }
        assertThat(drain(s, 20, now)).containsOnly("a"); // a alone: its counter runs far ahead of b's
        for (int i = 1; i <= 10; i++) {
            s.enqueue(job("b" + i, "b", 500, now[0]));
        }
        // b is lifted to a's counter: the two alternate instead of b taking the next ten batches
        List<String> next = drain(s, 10, now);
        assertThat(next.stream().filter("b"::equals).count()).as(next.toString()).isBetween(4L, 6L);
    }

    @Test
    void withinATenantEarliestDeadlineFirstThenOldest() {
        DispatchScheduler s = oneAtATime(FairnessConfig.defaults());
        s.enqueue(Fixtures.job("none", "t", INTERACTIVE, 100, 10, 0, null));
        s.enqueue(Fixtures.job("late", "t", INTERACTIVE, 100, 10, 1, 90_000L));
        s.enqueue(Fixtures.job("soon", "t", INTERACTIVE, 100, 10, 2, 60_000L));
        s.enqueue(Fixtures.job("soon-too", "t", INTERACTIVE, 100, 10, 3, 60_000L));
        List<String> ids = new ArrayList<>();
        long now = 10;
        for (int i = 0; i < 4; i++) {
            BatchPlan p = s.formBatches(++now).get(0);
            ids.add(p.jobs().get(0).jobId());
            s.batchFinished("p", p.batchId(), ++now);
        }
        assertThat(ids).containsExactly("soon", "soon-too", "late", "none");
    }

    @Test
    void aFloodDoesNotMakeAnotherTenantsDeadlineLookUnreachable() {
        DispatchScheduler s = oneAtATime(FairnessConfig.defaults());
        for (int i = 0; i < 200; i++) {
            s.enqueue(job("h" + i, "heavy", 1000, 0)); // ~200 s of work at 1000 tokens/s
        }
        QueuedJob light = Fixtures.job("l", "light", INTERACTIVE, 100, 10, 0, 5_000L);
        assertThat(s.admit(light, 0)).as("fair share: only about one heavy job is ahead of it")
                .isEqualTo(Admission.ACCEPTED);
        s.enqueue(light);
        assertThat(s.expireDue(1)).isEmpty();
        QueuedJob heavy = Fixtures.job("h-late", "heavy", INTERACTIVE, 100, 10, 0, 5_000L);
        assertThat(s.admit(heavy, 0)).as("the heavy tenant's own backlog is ahead of its new job")
                .isInstanceOf(Admission.Rejected.class);

        DispatchScheduler fifo = oneAtATime(FairnessConfig.oldestFirst());
        for (int i = 0; i < 200; i++) {
            fifo.enqueue(job("h" + i, "heavy", 1000, 0));
        }
        assertThat(fifo.admit(light, 0)).as("oldest-first: the whole flood is ahead").isInstanceOf(Admission.Rejected.class);
    }

    @Test
    void theBatchLaneIsSharedFairlyAndStillYieldsToInteractiveWork() {
        DispatchScheduler s = oneAtATime(FairnessConfig.defaults());
        for (int i = 0; i < 20; i++) {
            s.enqueue(Fixtures.job("bh" + i, "bulk", BATCH, 500, 10, 0, null));
        }
        s.enqueue(Fixtures.job("bs0", "small", BATCH, 500, 10, 1, null));
        s.enqueue(Fixtures.job("bs1", "small", BATCH, 500, 10, 1, null));
        s.enqueue(Fixtures.job("i0", "bulk", INTERACTIVE, 500, 10, 2, null));
        long[] now = {100};
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            BatchPlan p = s.formBatches(++now[0]).get(0);
            ids.add(p.jobs().get(0).jobId());
            s.batchFinished("p", p.batchId(), ++now[0]);
        }
        assertThat(ids.get(0)).as("interactive before batch: " + ids).isEqualTo("i0");
        assertThat(ids.subList(1, 6)).as("the small tenant's batch jobs share the lane: " + ids).contains("bs0", "bs1");
        assertThat(s.fairShare("m", BATCH).service("small")).isPositive();
        assertThat(s.fairShare("m", INTERACTIVE).service("small")).isZero();
    }

    @Test
    void batchesAreFilledInFairOrder() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxWaits(0, 0), FairnessConfig.defaults().withFairCredits(false),
                List.of(Fixtures.pool("p", "m", 1, 10_000, 4, Fixtures.linear(1000, 0.001))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
        for (int i = 0; i < 8; i++) {
            s.enqueue(job("a" + i, "a", 100, i));
        }
        s.enqueue(job("b0", "b", 100, 20));
        s.enqueue(job("b1", "b", 100, 21));
        BatchPlan p = s.formBatches(100).get(0);
        // equal counters: a0 (older), then b0 (b's counter is lower once a0 is placed), then a1 and b1
        assertThat(p.jobs()).extracting(QueuedJob::jobId).containsExactly("a0", "b0", "a1", "b1");
    }

    /**
     * Tenant a's prompts are cached on the only pool, b's are not: prefix affinity would fill every batch with a's jobs.
     * It may only while a stays within the budget of b's counter, so the counters never drift further apart than the
     * budget plus one batch's charge.
     */
    @Test
    void prefixAffinityReordersOnlyWithinTheUnfairnessBudget() {
        PrefixLocator aCachedOnP = hashes -> !hashes.isEmpty() && hashes.get(0) == 1L ? Map.of("p", hashes.size()) : Map.of();
        int prompt = 100;
        int output = 10;
        double maxJobCharge = prompt + 2.0 * output;
        int seqs = 4;
        for (long budget : List.of(0L, 2_000L)) {
            DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxWaits(0, 0).withPrefix(50, 1.0),
                    FairnessConfig.defaults().withAffinityBudgetTokens(budget).withFairCredits(false),
                    List.of(Fixtures.pool("p", "m", 1, 10_000, seqs, Fixtures.linear(1000, 0.001))),
                    RoutingPolicies.estimatedCompletion(), aCachedOnP, null);
            for (int i = 0; i < 250; i++) {
                s.enqueue(new QueuedJob("a" + i, "a", "m", INTERACTIVE, prompt, output, i, null, List.of(1L, 1L)));
                s.enqueue(new QueuedJob("b" + i, "b", "m", INTERACTIVE, prompt, output, i, null, List.of(9L, 9L)));
            }
            VirtualTokenCounter vtc = s.fairShare("m", INTERACTIVE);
            int aHeavyBatches = 0;
            double maxGap = 0;
            long now = 1000;
            // the bound holds while both are backlogged: stop before either runs out
            for (int round = 0; round < 60 && vtc.backlog("a") > seqs && vtc.backlog("b") > seqs; round++) {
                BatchPlan p = s.formBatches(++now).get(0);
                long a = p.jobs().stream().filter(j -> j.tenant().equals("a")).count();
                aHeavyBatches += a >= seqs - 1 ? 1 : 0;
                s.batchFinished("p", p.batchId(), ++now);
                maxGap = Math.max(maxGap, Math.abs(vtc.counter("a") - vtc.counter("b")));
            }
            assertThat(maxGap).as("budget %d", budget).isLessThanOrEqualTo(budget + seqs * maxJobCharge);
            if (budget > 0) {
                // a's cached jobs are cheap (1 uncached token each), so a takes most batches and still stays in budget
                assertThat(aHeavyBatches).as("affinity acted").isGreaterThan(20);
            }
        }
    }

    @Test
    void oldestFirstStillKeepsTheCountersForMetrics() {
        DispatchScheduler s = oneAtATime(FairnessConfig.oldestFirst());
        s.enqueue(job("x", "t", 100, 0));
        drain(s, 1, new long[] {10});
        assertThat(s.fairShare("m", JobLane.INTERACTIVE).service("t")).isEqualTo(100 + 2.0 * 10);
    }
}
