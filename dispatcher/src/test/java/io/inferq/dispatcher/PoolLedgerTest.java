package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class PoolLedgerTest {

    private static PoolLedger ledger(int instances, int perInstance) {
        ServiceTimeModel anyTime = new ServiceTimeModel() { // the ledger is given each batch's estimate
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return 0.1;
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return 0.1;
            }
        };
        return new PoolLedger(new PoolProfile("p", "chip", "m", instances, 8192, 8, anyTime), perInstance);
    }

    /**
     * A continuous-batching instance modelled as processor sharing: its four batches in flight share its time equally,
     * and each really needs half its prior estimate (prefill and decode alike). A batch's own span since the previous
     * end then says little about its work — it depends on which batches ended before it — but as many spans as batches
     * overlap add up to about their work: the calibration learns 0.5 for both rates. Fake clock.
     */
    @Test
    void onAnEngineWhoseBatchesOverlapTheCalibrationLearnsItsThroughput() {
        PoolLedger pool = new PoolLedger(new PoolProfile("p", "chip", "m", 1, 8192, 8, Fixtures.linear(1000, 0.01)), 4);
        java.util.Random random = new java.util.Random(7);
        java.util.Map<String, Double> remaining = new java.util.HashMap<>(); // true seconds of work left, by batch
        double nowS = 0;
        int next = 0;
        for (int ended = 0; ended < 2000; ended++) {
            while (remaining.size() < 4) {
                int prompt = 100 + random.nextInt(3000);
                int out = 10 + random.nextInt(400);
                CalibratedServiceTime.Estimate prior = pool.model.priorEstimate(prompt, 1, out, prompt, 0);
                double estimate = prior.priorPrefillSeconds() + prior.priorDecodeSeconds();
                String id = "b" + next++;
                pool.add(id, 1, prompt + out, estimate, Math.round(nowS * 1000), new int[0], prior);
                remaining.put(id, 0.5 * estimate);
            }
            // the batch with the least work left ends first; until then each of the n got 1/n of the instance
            String first = java.util.Collections.min(remaining.entrySet(), java.util.Map.Entry.comparingByValue()).getKey();
            double least = remaining.get(first);
            nowS += least * remaining.size();
            remaining.replaceAll((id, left) -> left - least);
            remaining.remove(first);
            assertThat(pool.finish(first, Math.round(nowS * 1000))).isTrue();
        }
        assertThat(pool.model.prefillScale()).as("prefill: each batch needs half its prior").isCloseTo(0.5, within(0.1));
        assertThat(pool.model.decodeScale()).as("decode: each batch needs half its prior").isCloseTo(0.5, within(0.1));
        assertThat(pool.model.observations()).isEqualTo(2000);
    }

    @Test
    void anInstanceHoldingItsShareOfTheCreditsIsPassedOverWhileAnotherHasRoom() {
        PoolLedger pool = ledger(2, 2);
        assertThat(pool.add("a", 1, 10, 1.0, 0)).isZero();
        assertThat(pool.add("b", 1, 10, 100.0, 0)).as("the idle instance").isEqualTo(1);
        assertThat(pool.add("c", 1, 10, 1.0, 0)).as("backlog 1 s against 100 s").isZero();
        // 5 s later instance 0's batches are past their estimates (backlog 0) but both of its streams are still busy
        assertThat(pool.add("d", 1, 10, 1.0, 5_000)).as("instance 1 still has a free stream").isEqualTo(1);
        assertThat(pool.freeCredits()).isZero();
    }

    @Test
    void withEveryInstanceAtItsShareTheLeastBackloggedTakesTheBatch() {
        PoolLedger pool = ledger(2, 1);
        assertThat(pool.add("a", 1, 10, 1.0, 0)).isZero();
        assertThat(pool.add("b", 1, 10, 100.0, 0)).isEqualTo(1);
        // no instance has room (a batch beyond the credits, as a credit raised by another dispatcher's release may
        // briefly allow): the least backlogged instance takes it
        assertThat(pool.add("c", 1, 10, 1.0, 5_000)).isZero();
        assertThat(pool.freeCredits()).isZero();
    }

    /**
     * A continuous-batching engine runs an instance's batches side by side and they end out of order: every batch that
     * ends is observed, over the instance's busy span since the previous end, so the spans add up to the busy time and
     * the fit learns the instance's throughput (here 2 batches of prior 1 s each, run in 1.2 s together: 0.6 each).
     */
    @Test
    void overlappingBatchesEndingOutOfOrderAreEachTimedOverTheBusySpanSinceThePreviousEnd() {
        PoolLedger pool = ledger(1, 2);
        CalibratedServiceTime.Estimate oneSecond = new CalibratedServiceTime.Estimate(0.5, 0.5, 0);
        for (int round = 0; round < 200; round++) {
            long t0 = round * 10_000L;
            pool.add("a" + round, 1, 10, 1.0, t0, new int[0], oneSecond);
            pool.add("b" + round, 1, 10, 1.0, t0, new int[0], oneSecond);
            // the later batch ends first, then the head; then the instance idles until the next round
            assertThat(pool.finish("b" + round, t0 + 1_000, true)).isTrue();
            assertThat(pool.finish("a" + round, t0 + 1_200, true)).isTrue();
        }
        assertThat(pool.model.observations()).as("both batches of every round").isEqualTo(400);
        assertThat(pool.model.seconds(oneSecond)).as("learned seconds of a 1 s batch").isCloseTo(0.6, within(0.02));
        // idle time between rounds counts for no batch, and a batch not run as estimated is not observed
        pool.add("c", 1, 10, 1.0, 5_000_000, new int[0], oneSecond);
        assertThat(pool.finish("c", 5_030_000, false)).isTrue();
        assertThat(pool.model.observations()).isEqualTo(400);
    }

    /**
     * An engine prefills the prompts it is sent in send order, so a batch's prefill runs from its send, or from the end
     * of the prefill sent before it, to its last first token; batches that end out of order are observed in send order,
     * once the batch before them has ended. Prior prefill 0.5 s per batch, every prefill really takes 1 s (no decode in
     * flight, so nothing to add to a prefill): the ledger learns a prefill latency scale of 2. A batch whose prefill
     * was not observed (jobs dropped) leaves the next one's start unknown: that one is skipped. Fake clock.
     */
    @Test
    void batchPrefillsAreTimedFromTheirFirstTokensInSendOrder() {
        PoolLedger pool = ledger(1, 3);
        CalibratedServiceTime.Estimate est = new CalibratedServiceTime.Estimate(0.5, 0.5, 0);
        for (int round = 0; round < 100; round++) {
            long t0 = round * 10_000L;
            // a and b sent together (b's prefill queues behind a's), c once both have ended
            pool.add("a" + round, 1, 10, 1.0, t0, new int[0], est);
            pool.bookPrefill(0, "a" + round, 0.5, 0.5, 0, t0);
            pool.add("b" + round, 1, 10, 1.0, t0, new int[0], est);
            pool.bookPrefill(0, "b" + round, 0.5, 0.5, 0, t0);
            // b ends first: its prefill (1 000 → 2 000) is observed only once a's has been
            assertThat(pool.finish("b" + round, t0 + 2_500, true, t0 + 2_000)).isTrue();
            assertThat(pool.model.prefillObservations()).isEqualTo(3L * round);
            assertThat(pool.finish("a" + round, t0 + 2_600, true, t0 + 1_000)).isTrue();
            assertThat(pool.model.prefillObservations()).isEqualTo(3L * round + 2);
            pool.add("c" + round, 1, 10, 1.0, t0 + 3_000, new int[0], est);
            pool.bookPrefill(0, "c" + round, 0.5, 0.5, 0, t0 + 3_000);
            assertThat(pool.finish("c" + round, t0 + 4_500, true, t0 + 4_000)).isTrue();
        }
        // every batch: a 0 → 1 000, b 1 000 → 2 000 (behind a's), c 3 000 → 4 000 (sent after b's prefill ended)
        assertThat(pool.model.prefillObservations()).isEqualTo(300);
        assertThat(pool.model.prefillLatencyScale()).isCloseTo(2.0, within(0.03)); // the ridge: one mean observation toward 1
        // a batch not run as estimated is not observed, and the one sent after it neither (its start is unknown)
        long t0 = 5_000_000L;
        pool.add("x", 1, 10, 1.0, t0, new int[0], est);
        pool.bookPrefill(0, "x", 0.5, 0.5, 0, t0);
        pool.add("y", 1, 10, 1.0, t0, new int[0], est);
        pool.bookPrefill(0, "y", 0.5, 0.5, 0, t0);
        assertThat(pool.finish("x", t0 + 1_500, false, t0 + 1_000)).isTrue();
        assertThat(pool.finish("y", t0 + 2_500, true, t0 + 2_000)).isTrue();
        assertThat(pool.model.prefillObservations()).isEqualTo(300);
        pool.add("z", 1, 10, 1.0, t0 + 5_000, new int[0], est);
        pool.bookPrefill(0, "z", 0.5, 0.5, 0, t0 + 5_000);
        assertThat(pool.finish("z", t0 + 6_500, true, t0 + 6_000)).isTrue();
        assertThat(pool.model.prefillObservations()).as("z: its start is known again (y's first token)").isEqualTo(301);
        // no first-token time: nothing to observe
        pool.add("w", 1, 10, 1.0, t0 + 10_000, new int[0], est);
        pool.bookPrefill(0, "w", 0.5, 0.5, 0, t0 + 10_000);
        assertThat(pool.finish("w", t0 + 11_000, true)).isTrue();
        assertThat(pool.model.prefillObservations()).isEqualTo(301);
    }
}
