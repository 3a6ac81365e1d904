package io.inferq.dispatcher;

import static io.inferq.dispatcher.Fixtures.job;
import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link BatchLaneYield} on a fake clock, alone and in the scheduler. */
class BatchLaneYieldTest {

    /** Dispatches {@code jobsPerSecond} batch-lane jobs in each second of [fromMs, toMs), one batch per second. */
    private static void steadyBatchLane(BatchLaneYield y, int jobsPerSecond, long fromMs, long toMs) {
        for (long t = fromMs; t < toMs; t += 1000) {
            y.dispatched(jobsPerSecond, t);
        }
    }

    @Test
    void withoutInteractiveWorkTheBatchLaneIsNotPaced() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 1_000, 0, 10_000);
        assertThat(y.open(10_000)).isTrue();
        assertThat(y.opensAtMs(10_000)).isEqualTo(10_000);
        assertThat(y.jobsPerSecond(10_000)).isInfinite();
    }

    @Test
    void theFirstInteractiveSampleStartsThePaceAtTheBatchLanesRecentRate() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 300, 0, 10_000);
        y.interactiveIntake(4, 10_000);
        assertThat(y.jobsPerSecond(10_000)).isCloseTo(300, within(1e-9));
    }

    @Test
    void aQueuingDelayAboveTheTargetHalvesThePaceAtMostOncePerCutInterval() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 400, 0, 10_000);
        y.interactiveIntake(5, 10_000); // the base delay: 5 ms
        y.interactiveIntake(30, 10_050); // 25 ms of queuing > 10
        assertThat(y.jobsPerSecond(10_050)).isCloseTo(200, within(1e-9));
        y.interactiveIntake(30, 10_100); // within the cut interval: no second cut
        assertThat(y.jobsPerSecond(10_100)).isCloseTo(200, within(1e-9));
        y.interactiveIntake(30, 10_050 + BatchLaneYield.CUT_INTERVAL_MS);
        assertThat(y.jobsPerSecond(10_300)).isCloseTo(100, within(1e-9));
        assertThat(y.cuts()).isEqualTo(2);
    }

    @Test
    void thePaceNeverFallsBelowTheFloor() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 8, 0, 10_000);
        y.interactiveIntake(0, 10_000);
        for (int i = 1; i <= 20; i++) {
            y.interactiveIntake(1_000, 10_000 + i * BatchLaneYield.CUT_INTERVAL_MS);
        }
        assertThat(y.jobsPerSecond(14_000)).isEqualTo(BatchLaneYield.MIN_JOBS_PER_SECOND);
    }

    @Test
    void aDelayBelowTheTargetRaisesThePaceInProportionToTheGapAndTheTimeWhileThePaceHoldsTheLaneBack() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 100, 0, 10_000);
        y.interactiveIntake(5, 10_000); // pace 100, base 5
        y.dispatched(100, 10_000);
        assertThat(y.open(10_000)).as("a second's worth of debt holds the lane").isFalse();
        y.interactiveIntake(10, 10_100); // 5 ms of queuing: half the gain, for 0.1 s
        double afterFirst = 100 * (1 + BatchLaneYield.GAIN_PER_SECOND * 0.5 * 0.1);
        assertThat(y.jobsPerSecond(10_100)).isCloseTo(afterFirst, within(1e-9));
        y.interactiveIntake(5, 10_300); // no queuing, 0.2 s
        double afterSecond = afterFirst * (1 + BatchLaneYield.GAIN_PER_SECOND * 0.2);
        assertThat(y.jobsPerSecond(10_300)).isCloseTo(afterSecond, within(1e-9));
        y.interactiveIntake(5, 14_000); // 3.7 s later: counts as GAIN_STEP_MS at most
        assertThat(y.jobsPerSecond(14_000)).isCloseTo(afterSecond * (1 + BatchLaneYield.GAIN_PER_SECOND), within(1e-9));
    }

    @Test
    void aPaceThatDoesNotHoldTheLaneBackIsNotRaised() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 100, 0, 10_000);
        y.interactiveIntake(5, 10_000); // pace 100; the lane never asks for more (its credits hold it)
        for (long t = 10_100; t < 15_000; t += 100) {
            y.interactiveIntake(5, t);
        }
        assertThat(y.jobsPerSecond(15_000)).isCloseTo(100, within(1e-9));
    }

    @Test
    void aConstantClockOffsetBetweenHostsCancelsOut() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 100, 0, 10_000);
        // the ingress's clock runs 5 s behind this dispatcher's: every sample is ~5 s, none is queuing
        y.interactiveIntake(5_003, 10_000);
        y.interactiveIntake(5_008, 10_100);
        y.interactiveIntake(5_004, 10_400);
        assertThat(y.cuts()).isZero();
        y.interactiveIntake(5_030, 10_700);
        assertThat(y.cuts()).isEqualTo(1);
    }

    @Test
    void theBaseDelayAgesOutOfItsHistory() {
        BatchLaneYield y = new BatchLaneYield(10);
        y.interactiveIntake(0, 0); // an old minimum
        long later = BatchLaneYield.BASE_HISTORY_BUCKETS * BatchLaneYield.BASE_BUCKET_MS;
        for (long t = 1_000; t <= later; t += 1_000) {
            y.interactiveIntake(50, t); // the path got slower for good: 50 ms is the new base once 0 has aged out
        }
        long cutsBefore = y.cuts();
        y.interactiveIntake(55, later + 1_000);
        assertThat(y.cuts()).isEqualTo(cutsBefore);
        assertThat(cutsBefore).as("while the old minimum still counted, 50 ms was queuing").isPositive();
    }

    @Test
    void theTokenBucketSpacesBatchesByThePace() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 100, 0, 10_000);
        y.interactiveIntake(5, 10_000); // pace 100 jobs/s, bucket empty
        assertThat(y.open(10_000)).isTrue();
        y.dispatched(50, 10_000); // 50 jobs of debt: half a second at 100 jobs/s
        assertThat(y.open(10_000)).isFalse();
        assertThat(y.opensAtMs(10_000)).isEqualTo(10_500);
        assertThat(y.open(10_499)).isFalse();
        assertThat(y.open(10_500)).isTrue();
    }

    @Test
    void thePaceLiftsWhenInteractiveWorkStops() {
        BatchLaneYield y = new BatchLaneYield(10);
        steadyBatchLane(y, 100, 0, 10_000);
        y.interactiveIntake(5, 10_000);
        y.dispatched(100_000, 10_000); // a debt of 1,000 s
        assertThat(y.opensAtMs(10_000)).isEqualTo(10_000 + BatchLaneYield.IDLE_MS + 1);
        assertThat(y.open(10_000 + BatchLaneYield.IDLE_MS + 1)).isTrue();
        assertThat(y.jobsPerSecond(10_000 + BatchLaneYield.IDLE_MS + 1)).isInfinite();
    }

    @Test
    void rejectsANonPositiveTarget() {
        assertThatThrownBy(() -> new BatchLaneYield(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("targetDelayMs");
    }

    @Test
    void theSchedulerHoldsTheBatchLaneWhileTheYieldIsClosedAndKeepsServingInteractiveWork() {
        // one instance with many credits, so credits never hold anything here; batch max wait 100 ms
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxInFlightBatchesPerInstance(64),
                List.of(Fixtures.pool("p", "m", 1, 1000, 4, Fixtures.linear(1000, 0.01))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        BatchLaneYield y = new BatchLaneYield(10);
        s.yieldBatchLane(y);
        steadyBatchLane(y, 4, 0, 10_000); // the lane ran at 4 jobs/s
        y.interactiveIntake(5, 10_000); // interactive work seen: pace 4 jobs/s
        for (int i = 0; i < 8; i++) {
            s.enqueue(job("b" + i, BATCH, 50, 10_000));
        }
        List<BatchPlan> first = s.formBatches(10_500); // the bucket holds a quarter second of the pace: 1 job
        assertThat(first).hasSize(1);
        assertThat(first.get(0).jobs()).as("one full batch (sequence cap 4) goes, 3 jobs into debt").hasSize(4);
        assertThat(s.nextDecisionAtMs(10_500)).as("woken when the debt is paid: 3 jobs at 4 jobs/s").isEqualTo(11_250);
        s.enqueue(job("i1", INTERACTIVE, 50, 10_500));
        List<BatchPlan> second = s.formBatches(10_510);
        assertThat(second).extracting(p -> p.jobs().get(0).jobId()).as("interactive work is not paced").containsExactly("i1");
        assertThat(s.formBatches(11_249)).isEmpty();
        assertThat(s.formBatches(11_250)).hasSize(1);
    }
}
