package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static io.inferq.dispatcher.Fixtures.job;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class LanesAndBatchingTest {

    private static DispatchScheduler oneSlot(DispatchConfig cfg) {
        return new DispatchScheduler(cfg, List.of(Fixtures.pool("p", "m", 1, 1000, 4, Fixtures.linear(1000, 0.01))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
    }

    private static List<String> ids(List<BatchPlan> plans) {
        return plans.stream().flatMap(p -> p.jobs().stream()).map(QueuedJob::jobId).toList();
    }

    @Test
    void interactiveGoesBeforeOlderBatchWork() {
        DispatchScheduler s = oneSlot(Fixtures.config());
        s.enqueue(job("b1", BATCH, 50, 0));
        s.enqueue(job("i1", INTERACTIVE, 50, 50));
        List<BatchPlan> plans = s.formBatches(200); // both past their max wait
        assertThat(ids(plans)).containsExactly("i1");
        assertThat(s.formBatches(201)).as("the only credit is taken").isEmpty();
        s.batchFinished("p", plans.get(0).batchId(), 300);
        assertThat(ids(s.formBatches(300))).containsExactly("b1");
    }

    @Test
    void batchLaneIsPromotedAfterWaitingAndThenBeatsYoungerInteractiveWork() {
        DispatchScheduler s = oneSlot(Fixtures.config()); // promotion after 5 s
        s.enqueue(job("b1", BATCH, 50, 0));
        long now = 200;
        // a sustained interactive burst: one new interactive job per credit return
        for (int i = 0; i < 100 && now < 5_000; i++) {
            s.enqueue(job("i" + i, INTERACTIVE, 50, now));
            List<BatchPlan> plans = s.formBatches(now + 20);
            assertThat(ids(plans)).containsExactly("i" + i);
            now += 100;
            s.batchFinished("p", plans.get(0).batchId(), now);
        }
        assertThat(s.isQueued("b1")).as("starved while young").isTrue();
        s.enqueue(job("late", INTERACTIVE, 50, 5_001));
        List<BatchPlan> plans = s.formBatches(5_100);
        assertThat(ids(plans)).as("promoted batch job is older than the interactive one").containsExactly("b1");
    }

    @Test
    void waitsForMaxWaitUnlessTheBatchIsFull() {
        // interactive max wait 10 ms, pool 1000 tokens / 4 seqs; without work conservation
        DispatchScheduler s = oneSlot(Fixtures.config().withDispatchToIdleInstances(false));
        s.enqueue(job("a", INTERACTIVE, 50, 0));
        assertThat(s.formBatches(5)).isEmpty();
        assertThat(s.nextDecisionAtMs(5)).isEqualTo(10);
        assertThat(ids(s.formBatches(10))).containsExactly("a");

        DispatchScheduler full = oneSlot(Fixtures.config().withDispatchToIdleInstances(false));
        for (int i = 0; i < 4; i++) {
            full.enqueue(job("f" + i, INTERACTIVE, 50, 0));
        }
        assertThat(ids(full.formBatches(1))).as("sequence cap reached: send at once")
                .containsExactly("f0", "f1", "f2", "f3");
    }

    @Test
    void anIdleInstanceGetsInteractiveWorkAtOnceAndABusyOneLetsTheBatchFill() {
        // one instance, 2 batch credits, interactive max wait 10 ms
        DispatchScheduler s = oneSlot(Fixtures.config().withMaxInFlightBatchesPerInstance(2));
        s.enqueue(job("a", INTERACTIVE, 50, 0));
        List<BatchPlan> first = s.formBatches(0);
        assertThat(ids(first)).as("idle instance: no wait").containsExactly("a");

        s.enqueue(job("b", INTERACTIVE, 50, 1));
        s.enqueue(job("c", INTERACTIVE, 50, 2));
        assertThat(s.formBatches(5)).as("instance busy: the batch may fill until the max wait").isEmpty();
        assertThat(s.nextDecisionAtMs(5)).isEqualTo(11);
        s.batchFinished("p", first.get(0).batchId(), 6);
        assertThat(ids(s.formBatches(6))).as("idle again: the waiting jobs go together").containsExactly("b", "c");

        DispatchScheduler batchLane = oneSlot(Fixtures.config());
        batchLane.enqueue(job("x", BATCH, 50, 0));
        assertThat(batchLane.formBatches(0)).as("the batch lane keeps its max wait").isEmpty();
        assertThat(ids(batchLane.formBatches(100))).containsExactly("x");
    }

    @Test
    void batchesNeverMixBucketsAndRespectTheTokenBudget() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxInFlightBatchesPerInstance(4),
                List.of(Fixtures.pool("p", "m", 1, 1000, 8, Fixtures.linear(1000, 0.01))),
                RoutingPolicies.roundRobin(), PrefixLocator.NONE);
        s.enqueue(job("s1", INTERACTIVE, 80, 0));   // bucket ≤100
        s.enqueue(job("l1", INTERACTIVE, 600, 0));  // bucket ≤1000
        s.enqueue(job("s2", INTERACTIVE, 90, 0));
        s.enqueue(job("l2", INTERACTIVE, 500, 0));
        List<BatchPlan> plans = s.formBatches(100);
        assertThat(plans).hasSize(3);
        assertThat(plans).allSatisfy(b -> assertThat(b.promptTokens()).isLessThanOrEqualTo(1000));
        assertThat(plans.stream().map(b -> ids(List.of(b))).toList())
                .containsExactlyInAnyOrder(List.of("s1", "s2"), List.of("l1"), List.of("l2"));
        assertThat(plans.stream().filter(b -> b.jobs().size() == 2).findFirst().orElseThrow().bucketUpperTokens())
                .isEqualTo(100);
    }

    @Test
    void cancelledJobsNeverRunAndQueueIsBounded() {
        DispatchScheduler s = oneSlot(Fixtures.config().withMaxQueuedJobs(2));
        s.enqueue(job("a", INTERACTIVE, 50, 0));
        s.enqueue(job("b", INTERACTIVE, 50, 0));
        assertThat(s.remainingCapacity()).isZero();
        assertThat(s.admit(job("c", INTERACTIVE, 50, 0), 0))
                .isEqualTo(new Admission.Rejected(Admission.CODE_QUEUE_FULL,
                        "the dispatcher queue holds maxQueuedJobs=2 jobs", 100));
        assertThatThrownBy(() -> s.enqueue(job("c", INTERACTIVE, 50, 0)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("maxQueuedJobs");
        assertThat(s.cancel("a")).isTrue();
        assertThat(s.cancel("a")).isFalse();
        assertThat(ids(s.formBatches(100))).containsExactly("b");
        assertThat(s.cancel("b")).as("already dispatched").isFalse();
    }

    @Test
    void unknownOrRepeatedBatchFinishIsIgnoredAndCreditsReturn() {
        DispatchScheduler s = oneSlot(Fixtures.config());
        s.enqueue(job("a", INTERACTIVE, 50, 0));
        BatchPlan b = s.formBatches(100).get(0);
        assertThat(s.freeBatchCredits("p")).isZero();
        assertThat(s.batchFinished("p", "nope", 100)).isFalse();
        assertThat(s.batchFinished("p", b.batchId(), 100)).isTrue();
        assertThat(s.batchFinished("p", b.batchId(), 100)).isFalse();
        assertThat(s.freeBatchCredits("p")).isEqualTo(1);
        s.setBatchCredits("p", 0);
        s.enqueue(job("c", INTERACTIVE, 50, 100));
        assertThat(s.formBatches(200)).as("back-pressure: no credits").isEmpty();
        assertThat(s.hasFreeCredits("m")).isFalse();
    }
}
