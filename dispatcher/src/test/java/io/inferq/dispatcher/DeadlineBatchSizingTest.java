package io.inferq.dispatcher;

import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Deadline-aware batch sizing ({@link BatchForming.DeadlineFit}), through the scheduler's public API on a virtual clock
 * (every time is an argument). Pools prefill 1,000 tokens/s and decode 1 ms per step, so a prompt of {@code n} tokens
 * takes {@code n} ms to prefill on an idle instance.
 */
class DeadlineBatchSizingTest {

    private static final ServiceTimeModel THOUSAND_PER_SECOND = Fixtures.linear(1000, 0.001);

    private static DispatchScheduler scheduler(int creditsPerInstance, PoolProfile... pools) {
        return new DispatchScheduler(Fixtures.config().withMaxInFlightBatchesPerInstance(creditsPerInstance),
                List.of(pools), RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
    }

    private static PoolProfile pool(String id) {
        return Fixtures.pool(id, "m", 1, 10_000, 8, THOUSAND_PER_SECOND);
    }

    private static QueuedJob job(String id, int prompt, long enqueuedAt, Long deadline) {
        return Fixtures.job(id, "t1", INTERACTIVE, prompt, 16, enqueuedAt, deadline);
    }

    private static List<String> ids(List<BatchPlan> plans) {
        return plans.stream().flatMap(p -> p.jobs().stream()).map(QueuedJob::jobId).toList();
    }

    private static Map<String, List<String>> byPool(List<BatchPlan> plans) {
        return plans.stream().collect(Collectors.toMap(BatchPlan::poolId,
                p -> p.jobs().stream().map(QueuedJob::jobId).toList()));
    }

    /** a, b, c in deadline order; b's first token would come 1,210 ms after 0 (a's 600 + its 600 tokens), after 1,100. */
    private static void enqueueThree(DispatchScheduler s) {
        s.enqueue(job("a", 600, 0, 1_000L));
        s.enqueue(job("b", 600, 0, 1_100L));
        s.enqueue(job("c", 300, 0, 5_000L));
    }

    @Test
    void aJobWhoseFirstTokenWouldComeAfterItsDeadlineIsLeftOutAndLaterOnesStillJoin() {
        DispatchScheduler s = scheduler(1, pool("p"));
        enqueueThree(s);
        // at 10 ms: a's first token at 610 ≤ 1,000; b's at 1,210 > 1,100; c's (after a) at 910 ≤ 5,000
        List<BatchPlan> plans = s.formBatches(10);
        assertThat(ids(plans)).containsExactly("a", "c");
        assertThat(s.isQueued("b")).as("left out, still queued").isTrue();
    }

    @Test
    void offTheBatchIsAFirstFitAsBefore() {
        DispatchScheduler s = scheduler(1, pool("p"));
        s.setDeadlineBatchSizing(false);
        enqueueThree(s);
        assertThat(ids(s.formBatches(10))).containsExactly("a", "b", "c");
    }

    @Test
    void aJobLeftOutGoesToAnotherPoolThatCanStillMeetItsDeadline() {
        DispatchScheduler s = scheduler(1, pool("p1"), pool("p2"));
        enqueueThree(s);
        Map<String, List<String>> plans = byPool(s.formBatches(10));
        assertThat(plans).containsEntry("p1", List.of("a", "c")).containsEntry("p2", List.of("b"));
        assertThat(s.queuedJobs()).isZero();
    }

    @Test
    void aBatchWaitsBehindThePrefillOwedToEarlierBatchesOnItsInstance() {
        // one instance with two batch credits (streams into one engine)
        DispatchScheduler s = scheduler(2, pool("p"));
        s.enqueue(job("x", 900, 0, null)); // no deadline: always fits
        assertThat(ids(s.formBatches(0))).containsExactly("x");
        // at 10 ms the engine still owes 890 ms of x's prefill; d needs 300 ms more, its deadline is 1,010 ms
        s.enqueue(job("d", 300, 10, 1_010L));
        s.enqueue(job("e", 300, 10, 3_000L));
        List<BatchPlan> second = s.formBatches(20);
        assertThat(ids(second)).as("d would get its first token after about 1.2 s").containsExactly("e");
        assertThat(s.isQueued("d")).isTrue();
        // nothing can take d in time: it expires at its deadline without taking engine time
        assertThat(s.formBatches(500)).isEmpty();
        assertThat(s.expireDue(1_010)).extracting(QueuedJob::jobId).containsExactly("d");
    }

    @Test
    void withTheSameJobsAnIdleInstanceTakesTheJobABusyOneCannot() {
        // the same d on an idle pool: 300 ms of prefill, well inside its deadline
        DispatchScheduler s = scheduler(2, pool("p"));
        s.enqueue(job("d", 300, 10, 1_010L));
        assertThat(ids(s.formBatches(20))).containsExactly("d");
    }

    /** The batch of {@link #fastBusySlowIdle()} that keeps the fast pool busy. */
    private String fillerBatch;

    /**
     * A fast pool (10,000 prompt tokens/s, 1 ms per output token) busy with a 3.1 s batch, and an idle slow one (1,000
     * tokens/s, 20 ms per token), one credit each. A job of 500 prompt and 200 output tokens would complete sooner on
     * the fast pool (about 3.1 s ahead + 0.25 s there, against 0.5 s + 4 s on the slow one), so the default policy holds
     * it for the fast pool, unless it would miss its deadline there.
     */
    private DispatchScheduler fastBusySlowIdle() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxInFlightBatchesPerInstance(1),
                List.of(Fixtures.pool("fast", "m", 1, 10_000, 8, Fixtures.linear(10_000, 0.001)),
                        Fixtures.pool("slow", "m", 1, 10_000, 8, Fixtures.linear(1_000, 0.02))),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        s.enqueue(Fixtures.job("filler", "t1", INTERACTIVE, 1_000, 3_000, 0, null));
        List<BatchPlan> plans = s.formBatches(0);
        assertThat(byPool(plans)).containsEntry("fast", List.of("filler"));
        fillerBatch = plans.get(0).batchId();
        return s;
    }

    @Test
    void aGroupIsNotHeldForABusyPoolWhereItsHeadWouldMissItsDeadline() {
        DispatchScheduler s = fastBusySlowIdle();
        // first token by 1 s: after the fast pool's 3.1 s backlog it would miss; the idle slow pool prefills it in 0.5 s
        s.enqueue(Fixtures.job("h", "t1", INTERACTIVE, 500, 200, 10, 1_000L));
        assertThat(byPool(s.formBatches(10))).containsEntry("slow", List.of("h"));
        assertThat(s.queuedJobs()).isZero();
    }

    @Test
    void aGroupIsStillHeldForABusyPoolThatCanStartItsHeadInTime() {
        DispatchScheduler s = fastBusySlowIdle();
        s.enqueue(Fixtures.job("h", "t1", INTERACTIVE, 500, 200, 10, 5_000L));
        assertThat(s.formBatches(10)).as("held for the fast pool, which still starts it by 5 s").isEmpty();
        assertThat(s.isQueued("h")).isTrue();
        assertThat(s.batchFinished("fast", fillerBatch, 3_100)).isTrue();
        assertThat(byPool(s.formBatches(3_100))).containsEntry("fast", List.of("h"));
    }

    /**
     * One instance, two credits, decode steps as long as the default prefill chunk (stretch 2): x (100 tokens, no
     * deadline) is sent at 0; formed at 100 ms × {@code factor}, d (200 tokens) would get its first token after a boundary
     * (chunk + step, 100 ms), a step (50 ms) and its stretched prefill (2 × 200 ms), at 650 ms × factor.
     */
    private static boolean dTakenByItsDeadline(double factor, long deadlineUnscaledMs) {
        // the pool as a simulated pool at time-scale 1/factor runs it (the server's own scaling)
        ServiceTimeModel m = ServiceTimeModel.timeScaled(Fixtures.linear(1000, 0.025), 1 / factor);
        DispatchScheduler s = scheduler(2, Fixtures.pool("p", "m", 1, 10_000, 8, m));
        s.enqueue(job("x", 100, 0, null));
        assertThat(ids(s.formBatches(0))).containsExactly("x");
        long t = Math.round(100 * factor);
        s.enqueue(job("d", 200, t - 10, Math.round(deadlineUnscaledMs * factor))); // waited its 10 ms max wait
        return ids(s.formBatches(t)).contains("d");
    }

    @Test
    void theFirstTokenPredictionScalesWithThePoolsTimeIncludingItsPrefillChunk() {
        assertThat(dTakenByItsDeadline(1, 660)).as("predicted at 650 ms").isTrue();
        assertThat(dTakenByItsDeadline(1, 640)).isFalse();
        // the same pool at half speed (a simulated pool at time-scale 0.5): every time doubles, the chunk too, so the
        // same decisions; with the chunk left at 50 ms the stretch would be 3 and d predicted at 1,650 ms, not 1,300
        assertThat(dTakenByItsDeadline(2, 660)).as("predicted at 1,300 ms").isTrue();
        assertThat(dTakenByItsDeadline(2, 800)).isTrue();
        assertThat(dTakenByItsDeadline(2, 640)).isFalse();
    }

    @Test
    void thePrefillClockOfAnInstanceRunsDownWithTimeAndAddsUpPerBatch() {
        PoolLedger ledger = new PoolLedger(Fixtures.pool("p", "m", 2, 10_000, 8, THOUSAND_PER_SECOND), 2);
        assertThat(ledger.prefillWaitSeconds(0, 0)).isZero();
        assertThat(ledger.busy(0, 0)).isFalse();
        ledger.bookPrefill(0, 0.5, 1_000);
        ledger.bookPrefill(0, 0.25, 1_100);
        assertThat(ledger.prefillWaitSeconds(0, 1_100)).isCloseTo(0.65, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(ledger.busy(0, 1_100)).isTrue();
        assertThat(ledger.prefillWaitSeconds(1, 1_100)).as("the other instance owes nothing").isZero();
        assertThat(ledger.prefillWaitSeconds(0, 2_000)).as("caught up").isZero();
        ledger.bookPrefill(0, 0.1, 3_000);
        assertThat(ledger.prefillWaitSeconds(0, 3_000)).as("an idle engine starts at once")
                .isCloseTo(0.1, org.assertj.core.data.Offset.offset(1e-9));
    }
}
