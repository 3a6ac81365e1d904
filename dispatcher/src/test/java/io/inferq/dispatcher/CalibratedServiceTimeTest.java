package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import org.junit.jupiter.api.Test;

/** Online service-time calibration: the fit, its bounds, and what routing does with it. Fake clock throughout. */
class CalibratedServiceTimeTest {

    @Test
    void learnsPrefillAndDecodeScalesSeparatelyAndForgetsWithItsHalfLife() {
        CalibratedServiceTime c = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
        assertThat(c.prefillScale()).isEqualTo(1.0);
        // prefill really 3× slower, decode 1.5×; batches with varied prefill/decode mixes
        for (int i = 0; i < 200; i++) {
            int prompt = 200 + (i * 37) % 2000;
            int out = 10 + (i * 53) % 300;
            CalibratedServiceTime.Estimate e = c.priorEstimate(prompt, 4, out, prompt, 0);
            c.observe(e, 3 * e.priorPrefillSeconds() + 1.5 * e.priorDecodeSeconds());
        }
        assertThat(c.prefillScale()).isCloseTo(3.0, within(0.1));
        assertThat(c.decodeScale()).isCloseTo(1.5, within(0.05));
        assertThat(c.prefillSeconds(1000)).isCloseTo(3.0, within(0.1));
        // the pool recovers (say, a co-tenant left): within a few half-lives the estimate follows
        for (int i = 0; i < 5 * c.halfLifeBatches(); i++) {
            int prompt = 200 + (i * 37) % 2000;
            int out = 10 + (i * 53) % 300;
            CalibratedServiceTime.Estimate e = c.priorEstimate(prompt, 4, out, prompt, 0);
            c.observe(e, e.priorPrefillSeconds() + e.priorDecodeSeconds());
        }
        assertThat(c.prefillScale()).isCloseTo(1.0, within(0.15));
        assertThat(c.decodeScale()).isCloseTo(1.0, within(0.1));
        assertThat(c.observations()).isEqualTo(200 + 5L * c.halfLifeBatches());
    }

    /**
     * Batches of one shape (one prompt length, one output length) cannot tell prefill from decode. The batch's time is
     * still learned exactly (what routing and admission add up); the split is the ridge's: the excess time goes to the
     * two parts equally in seconds, so a prefill-heavy pool's prefill scale stays below the truth (documented on the
     * class; the deadline checks' decode step never goes below the prior's).
     */
    @Test
    void whenPrefillAndDecodeAlwaysComeInOneProportionTheBatchTimeIsLearnedAndTheExcessSplitEqually() {
        for (int prompt : new int[] {4000, 200}) { // prefill-heavy, then decode-heavy
            CalibratedServiceTime c = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
            CalibratedServiceTime.Estimate e = c.priorEstimate(prompt, 4, 40, prompt, 0);
            for (int i = 0; i < 200; i++) {
                c.observe(e, 2 * (e.priorPrefillSeconds() + e.priorDecodeSeconds()));
            }
            assertThat(c.seconds(e)).as("batch time, prompt %d", prompt)
                    .isCloseTo(2 * (e.priorPrefillSeconds() + e.priorDecodeSeconds()), within(0.02 * c.seconds(e)));
            assertThat(c.overallScale()).as("overall scale, prompt %d", prompt).isCloseTo(2.0, within(0.04));
            assertThat((c.prefillScale() - 1) * e.priorPrefillSeconds()).as("prefill's share of the excess, prompt %d", prompt)
                    .isCloseTo((c.decodeScale() - 1) * e.priorDecodeSeconds(), within(0.02 * c.seconds(e)));
        }
    }

    /**
     * Time to first token is learned on its own, from batch prefills (first-token times): here 2× the predicted prefill,
     * while batches run at 0.5× their prior. The latency scale follows the prefills (and forgets with the half-life);
     * the batch-time fit, which backlog and admission estimates use, is exactly what it is without prefill rows.
     */
    @Test
    void prefillLatencyIsLearnedFromFirstTokensApartFromTheBatchTimeFit() {
        CalibratedServiceTime c = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
        CalibratedServiceTime twin = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
        assertThat(c.prefillLatencyScale()).isEqualTo(1.0);
        for (int i = 0; i < 200; i++) {
            int prompt = 200 + (i * 37) % 2000;
            CalibratedServiceTime.Estimate e = c.priorEstimate(prompt, 4, 40, prompt, 0);
            c.observePrefill(e.priorPrefillSeconds(), 2 * e.priorPrefillSeconds());
            c.observe(e, 0.5 * (e.priorPrefillSeconds() + e.priorDecodeSeconds()));
            twin.observe(e, 0.5 * (e.priorPrefillSeconds() + e.priorDecodeSeconds()));
        }
        assertThat(c.prefillLatencyScale()).as("the ridge (one mean observation of ~46 decayed) keeps it a little short")
                .isCloseTo(2.0, within(0.03));
        assertThat(c.prefillScale()).isEqualTo(twin.prefillScale());
        assertThat(c.decodeScale()).isEqualTo(twin.decodeScale());
        assertThat(c.prefillObservations()).isEqualTo(200);
        assertThat(twin.prefillObservations()).isZero();
        assertThat(twin.prefillLatencyScale()).isEqualTo(1.0);
        // the engine's prefill gets faster: within a few half-lives the scale follows
        for (int i = 0; i < 5 * c.halfLifeBatches(); i++) {
            c.observePrefill(1.0, 1.0);
        }
        assertThat(c.prefillLatencyScale()).isCloseTo(1.0, within(0.1));
        // nonsense is ignored; one observation moves the scale by about a half of its error (the ridge: one mean one)
        CalibratedServiceTime fresh = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
        fresh.observePrefill(1.0, Double.NaN);
        fresh.observePrefill(0, 1.0);
        fresh.observePrefill(1.0, -2);
        fresh.observePrefill(Double.POSITIVE_INFINITY, 1.0);
        assertThat(fresh.prefillObservations()).isZero();
        fresh.observePrefill(1.0, 3.0);
        assertThat(fresh.prefillLatencyScale()).isCloseTo(2.0, within(1e-9));
        for (int i = 0; i < 100; i++) {
            fresh.observePrefill(1.0, 1_000.0);
        }
        assertThat(fresh.prefillLatencyScale()).as("clamped").isEqualTo(CalibratedServiceTime.MAX_SCALE);
    }

    @Test
    void learnsAKvFetchCostAndIgnoresNonsense() {
        CalibratedServiceTime c = new CalibratedServiceTime(Fixtures.linear(1000, 0.01));
        for (int i = 0; i < 300; i++) {
            int prompt = 500 + (i * 37) % 2000;
            long fetched = (i * 91) % 1500;
            CalibratedServiceTime.Estimate e = c.priorEstimate(prompt, 4, 50 + i % 100, prompt + fetched, fetched);
            c.observe(e, e.priorPrefillSeconds() + e.priorDecodeSeconds() + 2e-4 * fetched);
        }
        assertThat(c.fetchSecondsPerToken()).isCloseTo(2e-4, within(2e-5));
        double before = c.prefillScale();
        c.observe(c.priorEstimate(100, 1, 1, 100, 0), Double.NaN);
        c.observe(c.priorEstimate(100, 1, 1, 100, 0), -1);
        assertThat(c.prefillScale()).isEqualTo(before);
        // outliers cannot make a pool look free or dead
        for (int i = 0; i < 500; i++) {
            c.observe(c.priorEstimate(1000, 4, 100, 1000, 0), 1e6);
        }
        assertThat(c.prefillScale()).isLessThanOrEqualTo(CalibratedServiceTime.MAX_SCALE);
    }

    /**
     * Two pools the configuration says are equal; "slow" really takes twice as long. Run through the scheduler with a
     * fake clock, finishing each batch when its instance really would: once calibrated, estimated-completion routing
     * sends the slow pool less work than with calibration off.
     */
    @Test
    void aPoolConfiguredTwiceTooOptimisticGetsLessWorkOnceCalibrated() {
        double learned = shareOfSlow(true);
        double blind = shareOfSlow(false);
        assertThat(learned).as("share of the jobs the slow pool ran, calibrated vs not (%.2f vs %.2f)", learned, blind)
                .isLessThan(blind - 0.1);
    }

    private static double shareOfSlow(boolean calibrate) {
        ServiceTimeModel prior = Fixtures.linear(2000, 0.002);
        DispatchScheduler s = new DispatchScheduler(
                DispatchConfig.defaults().withLengthBuckets(LengthBuckets.of(100_000)).withMaxWaits(0, 0)
                        .withMaxInFlightBatchesPerInstance(1),
                List.of(Fixtures.pool("slow", "m", 1, 4000, 4, prior), Fixtures.pool("fast", "m", 1, 4000, 4, prior)),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        s.setCalibration(calibrate);
        record Done(long atMs, String pool, String batch) {
        }
        PriorityQueue<Done> running = new PriorityQueue<>((a, b) -> Long.compare(a.atMs(), b.atMs()));
        Map<String, Integer> jobsByPool = new HashMap<>();
        long now = 0;
        int next = 0;
        // a light stream (a job takes 0.3 s on "fast", 0.6 s on "slow"; one arrives every 0.5 s, with some in pairs):
        // there is a choice to make at most arrivals, and the estimate makes it
        for (int step = 0; step < 2000; step++) {
            now += 500;
            for (int k = 0; k < 1 + step % 3 / 2; k++) {
                s.enqueue(new QueuedJob("j" + next++, "t", "m", JobLane.INTERACTIVE, 400, 50, now, null, List.of()));
            }
            while (!running.isEmpty() && running.peek().atMs() <= now) {
                Done d = running.poll();
                s.batchFinished(d.pool(), d.batch(), d.atMs(), true);
            }
            for (BatchPlan p : s.formBatches(now)) {
                long prompt = p.jobs().stream().mapToLong(QueuedJob::promptTokens).sum();
                double seconds = prompt / 2000.0 + 50 * 0.002;
                long took = Math.round(seconds * 1000 * (p.poolId().equals("slow") ? 2 : 1));
                running.add(new Done(now + took, p.poolId(), p.batchId()));
                jobsByPool.merge(p.poolId(), p.jobs().size(), Integer::sum);
            }
            assertThat(s.queuedJobs()).as("the fleet keeps up").isLessThan(50);
        }
        if (calibrate) {
            // the slow pool is hardly used once it looks slower, so its estimate rests on few batches (and the prior)
            assertThat(s.serviceTime("slow").overallScale()).isGreaterThan(1.4);
            assertThat(s.serviceTime("fast").overallScale()).isCloseTo(1.0, within(0.1));
        }
        int total = jobsByPool.values().stream().mapToInt(Integer::intValue).sum();
        return jobsByPool.getOrDefault("slow", 0) / (double) total;
    }
}
