package io.inferq.workers.backend;

import static io.inferq.workers.backend.SimulatedBackendTest.ROOFLINE;
import static io.inferq.workers.backend.SimulatedBackendTest.T0;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ChipFigure;
import io.inferq.workers.chips.ChipProfile;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import io.inferq.workers.chips.WeightPrecision;
import io.inferq.workers.engine.ContinuousBatchingEngine;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The continuous engine model: batches on one instance share its {@link ContinuousBatchingEngine}, driven by the
 * callers' threads on a {@link ManualClock} (deterministic: only the instance's driver sleeps, exactly to each event).
 * Batches are submitted at chosen clock times with {@link SimulatedBackend#start} and awaited on separate threads.
 */
class SimulatedContinuousBackendTest {
    /** Test roofline (see {@link SimulatedBackendTest}): 100 tokens prefill in 0.02 s, a decode step takes ~0.02 s. */
    private final ManualClock clock = new ManualClock(T0);
    private final SimulatedBackend backend = new SimulatedBackend(ROOFLINE, 1.0, clock);
    private final ExecutorService threads = Executors.newCachedThreadPool();

    @AfterEach
    void stopThreads() throws InterruptedException {
        threads.shutdownNow();
        assertThat(threads.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private static SequenceWork seq(String job, int prompt, int maxTokens) {
        return SimulatedBackendTest.sequence(job, prompt, 0, maxTokens);
    }

    private static BatchWork batch(String id, int instance, int priority, List<SequenceWork> sequences) {
        return new BatchWork(id, "pool", instance, sequences, priority);
    }

    private static List<SequenceWork> sequences(String prefix, int n, int prompt, int maxTokens) {
        List<SequenceWork> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(seq(prefix + i, prompt, maxTokens));
        }
        return out;
    }

    /** The batch alone on a fresh backend and clock. */
    private static List<SequenceOutcome.Completed> alone(BatchWork batch) throws InterruptedException {
        return completed(new SimulatedBackend(ROOFLINE, 1.0, new ManualClock(T0)).run(batch));
    }

    private static List<SequenceOutcome.Completed> completed(List<SequenceOutcome> outcomes) {
        assertThat(outcomes).allMatch(o -> o instanceof SequenceOutcome.Completed);
        return outcomes.stream().map(o -> (SequenceOutcome.Completed) o).toList();
    }

    private static long lastFinish(List<SequenceOutcome.Completed> outcomes) {
        return outcomes.stream().mapToLong(SequenceOutcome.Completed::finishedAtMs).max().orElseThrow();
    }

    private static long firstToken(List<SequenceOutcome.Completed> outcomes) {
        return outcomes.stream().mapToLong(SequenceOutcome.Completed::firstTokenAtMs).min().orElseThrow();
    }

    private Future<List<SequenceOutcome>> awaitOn(SimulatedBackend.Submitted submitted) {
        return threads.submit(submitted::await);
    }

    private static <T> T get(Future<T> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    @Test
    void aBatchAloneFinishesWithinAFewPerCentOfTheRooflineEstimate() throws InterruptedException {
        // a real instance (its prefill chunk holds several prompts; see ContinuousBatchingEngine for longer ones)
        RooflineModel h800 = RooflineModel.of(ChipCatalogue.builtIn().get("h800"), 16,
                ModelCatalogue.builtIn().get("deepseek-r1"));
        SimulatedBackend r1 = new SimulatedBackend(h800, 1.0, clock);
        List<SequenceWork> work = new ArrayList<>();
        List<SequenceShape> shapes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int prompt = 1_000 + 500 * i;
            int out = 50 + 25 * i;
            work.add(new SequenceWork("s" + i, "deepseek-r1", List.of(), prompt, out, null, 0));
            shapes.add(new SequenceShape(prompt, 0, out));
        }
        List<SequenceOutcome.Completed> done = completed(r1.run(batch("b", 0, 1, work)));
        double estimateMs = h800.estimateBatch(shapes).totalSeconds() * 1000;
        assertThat((double) (lastFinish(done) - T0)).isCloseTo(estimateMs, Percentage.withPercentage(3));
        assertThat(clock.elapsedNanos() / 1e6).as("the clock advanced to the last event only")
                .isCloseTo(lastFinish(done) - T0, org.assertj.core.data.Offset.offset(1.0));
        for (int i = 0; i < done.size(); i++) {
            assertThat(done.get(i).completionTokens()).isEqualTo(work.get(i).maxTokens());
            assertThat(done.get(i).firstTokenAtMs()).isLessThan(done.get(i).finishedAtMs());
        }
        assertThat(r1.sequencesInEngine(0)).isZero();
    }

    @Test
    void twoBatchesOnOneInstanceShareItsEngine() throws Exception {
        BatchWork first = batch("b1", 0, 1, sequences("a", 4, 500, 200));
        BatchWork second = batch("b2", 0, 1, sequences("b", 4, 500, 200));
        long firstAlone = lastFinish(alone(first)) - T0;
        long secondAlone = lastFinish(alone(second)) - T0;

        SimulatedBackend.Submitted one = backend.start(first, TokenSink.NONE);
        clock.advanceMillis(1_000); // the first batch decodes by now
        long secondStart = clock.millis();
        SimulatedBackend.Submitted two = backend.start(second, TokenSink.NONE);
        Future<List<SequenceOutcome>> oneDone = awaitOn(one);
        Future<List<SequenceOutcome>> twoDone = awaitOn(two);
        List<SequenceOutcome.Completed> a = completed(get(oneDone));
        List<SequenceOutcome.Completed> b = completed(get(twoDone));

        long span = Math.max(lastFinish(a), lastFinish(b)) - T0;
        assertThat(span).as("both batches, sharing decode steps").isLessThan(firstAlone + secondAlone)
                .isGreaterThan(Math.max(firstAlone, secondAlone));
        // the second joined the running engine: it did not wait for the first to end, and it still took about its time
        assertThat(firstToken(b)).isLessThan(lastFinish(a));
        assertThat(lastFinish(b) - secondStart).isGreaterThanOrEqualTo(secondAlone).isLessThan(secondAlone * 3 / 2);
        assertThat(lastFinish(a) - T0).as("the first is slowed a little by the second's prefill").isGreaterThan(firstAlone);
        assertThat(backend.sequencesInEngine(0)).isZero();
    }

    @Test
    void concurrentCallersOfRunOnOneInstanceAllFinish() throws Exception {
        for (int round = 0; round < 5; round++) {
            ManualClock c = new ManualClock(T0);
            SimulatedBackend shared = new SimulatedBackend(ROOFLINE, 1.0, c);
            int callers = 4;
            CountDownLatch go = new CountDownLatch(1);
            List<Future<List<SequenceOutcome>>> results = new ArrayList<>();
            long aloneSum = 0;
            for (int k = 0; k < callers; k++) {
                BatchWork b = batch("r" + round + "-" + k, 0, k % 3, sequences("j" + k + "-", 3, 200 + 50 * k, 30 + 10 * k));
                aloneSum += lastFinish(alone(b)) - T0;
                results.add(threads.submit(() -> {
                    go.await();
                    return shared.run(b);
                }));
            }
            go.countDown();
            long last = 0;
            for (int k = 0; k < callers; k++) {
                List<SequenceOutcome.Completed> done = completed(get(results.get(k)));
                int tokens = 30 + 10 * k;
                assertThat(done).hasSize(3).allMatch(o -> o.completionTokens() == tokens && o.firstTokenAtMs() < o.finishedAtMs());
                last = Math.max(last, lastFinish(done));
            }
            // however the callers interleave, one driver at a time advances the clock: never more than one after another
            assertThat(last - T0).isLessThanOrEqualTo(aloneSum);
            assertThat(c.elapsedNanos() / 1_000_000).isLessThanOrEqualTo(aloneSum);
            assertThat(shared.sequencesInEngine(0)).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {ContinuousBatchingEngine.PRIORITY_HIGH, ContinuousBatchingEngine.PRIORITY_NORMAL})
    void interactiveWorkGetsItsFirstTokenAboutAsFastAsAloneWhileTheBatchLaneFillsTheEngine(int priority) throws Exception {
        int cap = ContinuousBatchingEngine.Limits.of(ROOFLINE).maxRunningSequences();
        BatchWork lane = batch("lane", 0, ContinuousBatchingEngine.PRIORITY_BATCH, sequences("l", cap, 100, 1_000));
        BatchWork interactive = batch("chat", 0, priority, List.of(seq("chat0", 200, 20)));
        List<SequenceOutcome.Completed> laneAlone = alone(lane);
        long chatAloneTtft = alone(interactive).get(0).firstTokenAtMs() - T0;

        SimulatedBackend.Submitted laneRun = backend.start(lane, TokenSink.NONE);
        clock.advanceMillis(5_000); // the lane's sequences all run (the sequence cap) and decode
        long chatStart = clock.millis();
        SimulatedBackend.Submitted chatRun = backend.start(interactive, TokenSink.NONE);
        Future<List<SequenceOutcome>> laneDone = awaitOn(laneRun);
        Future<List<SequenceOutcome>> chatDone = awaitOn(chatRun);
        SequenceOutcome.Completed chat = completed(get(chatDone)).get(0);
        List<SequenceOutcome.Completed> laneOut = completed(get(laneDone));

        // the wait for the next iteration boundary and the decode steps of the lane's sequences beside its prefill
        double decodeStepMs = ROOFLINE.decodeStepSeconds((long) cap * 1_200) * 1000;
        assertThat(chat.firstTokenAtMs() - chatStart).isLessThanOrEqualTo(chatAloneTtft + (long) Math.ceil(3 * decodeStepMs));
        assertThat(backend.preemptions(0)).as("a lane sequence made room").isPositive();
        assertThat(laneOut).allMatch(o -> o.completionTokens() == 1_000 && o.text().contains("job l"));
        assertThat(lastFinish(laneOut)).as("the lane is slowed").isGreaterThan(lastFinish(laneAlone));

        // the same request in the batch lane waits for a lane sequence to finish
        ManualClock control = new ManualClock(T0);
        SimulatedBackend same = new SimulatedBackend(ROOFLINE, 1.0, control);
        SimulatedBackend.Submitted laneAgain = same.start(lane, TokenSink.NONE);
        control.advanceMillis(5_000);
        SimulatedBackend.Submitted behind = same.start(batch("chat", 0, ContinuousBatchingEngine.PRIORITY_BATCH,
                interactive.sequences()), TokenSink.NONE);
        Future<List<SequenceOutcome>> laneAgainDone = threads.submit(laneAgain::await);
        long behindTtft = completed(behind.await()).get(0).firstTokenAtMs() - chatStart;
        get(laneAgainDone);
        assertThat(behindTtft).isGreaterThan(10 * (chat.firstTokenAtMs() - chatStart));
    }

    @Test
    void batchesOnDifferentInstancesDoNotInterfere() throws Exception {
        BatchWork first = batch("b1", 0, 1, sequences("a", 4, 500, 200));
        BatchWork second = batch("b2", 1, 1, sequences("b", 6, 300, 150));
        SimulatedBackend.Submitted one = backend.start(first, TokenSink.NONE);
        SimulatedBackend.Submitted two = backend.start(second, TokenSink.NONE);
        Future<List<SequenceOutcome>> oneDone = awaitOn(one);
        Future<List<SequenceOutcome>> twoDone = awaitOn(two);
        // stamps are the engine's event times: the same as alone, however the two drivers' sleeps interleave
        assertThat(completed(get(oneDone))).isEqualTo(alone(first));
        assertThat(completed(get(twoDone))).isEqualTo(alone(second));
        assertThat(backend.sequencesInEngine(0) + backend.sequencesInEngine(1)).isZero();
    }

    /** 2,000,000 tokens of KV; a 1,200,000-token prompt prefills in 720 s, a decode step takes 0.06 s. */
    private static final RooflineModel SMALL_KV = new RooflineModel(
            new ChipProfile("c", "C", "T", "t", ChipFigure.published(64), ChipFigure.published(1), ChipFigure.published(100),
                    null, null, "", "", true, ""),
            1, new ModelProfile("big", "Big", 15_000_000_000L, 15_000_000_000L, 10, 1000, WeightPrecision.BF16, 2_000_000, ""),
            WeightPrecision.BF16, new RooflineAssumptions(0.5, 0.5, 0.5, 10e9));

    @Test
    void anInterruptedRunTakesItsSequencesOutOfTheEngineAndFreesTheirKv() throws Exception {
        SimulatedBackend small = new SimulatedBackend(SMALL_KV, 1.0, clock);
        BatchWork gone = batch("gone", 0, 1, List.of(new SequenceWork("g", "big", List.of(), 1_200_000, 10_000, null, 0,
                null, true)));
        // does not fit in the KV beside it: admitted when the first leaves
        BatchWork next = batch("next", 0, 1, List.of(new SequenceWork("n", "big", List.of(), 1_200_000, 10, null, 0)));
        SimulatedBackend.Submitted g = small.start(gone, (job, text) -> Thread.currentThread().interrupt());
        SimulatedBackend.Submitted n = small.start(next, TokenSink.NONE);
        assertThat(small.sequencesInEngine(0)).isEqualTo(2);

        // the caller gives up at its first token (this thread drives the engine and hands it its text)
        assertThatThrownBy(g::await).isInstanceOf(InterruptedException.class);
        assertThat(clock.millis() - T0).as("interrupted at the first token, after a 720 s prefill")
                .isBetween(720_000L, 720_200L);
        assertThat(small.sequencesInEngine(0)).as("the other batch's sequence only").isEqualTo(1);
        SequenceOutcome.Completed after = completed(n.await()).get(0);
        // admitted one iteration after the removal, not after the 10,000 decode steps (600 s) it would have waited
        assertThat(after.firstTokenAtMs() - T0).isBetween(1_440_000L, 1_440_200L);
        assertThat(small.sequencesInEngine(0)).isZero();
    }

    @Test
    void interruptingWaitingCallersLeavesNothingInTheEngine() throws Exception {
        for (int round = 0; round < 10; round++) {
            ManualClock c = new ManualClock(T0);
            SimulatedBackend shared = new SimulatedBackend(ROOFLINE, 1.0, c);
            Future<List<SequenceOutcome>> big = threads.submit(() -> shared.run(batch("big", 0, 1, sequences("b", 4, 500, 5_000))));
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch exited = new CountDownLatch(1);
            Future<List<SequenceOutcome>> small = threads.submit(() -> {
                started.countDown();
                try {
                    return shared.run(batch("small", 0, 1, sequences("s", 3, 500, 5_000)));
                } finally {
                    exited.countDown();
                }
            });
            started.await();
            small.cancel(true); // interrupts the caller, driving or waiting (or before it submits)
            assertThat(completed(get(big))).hasSize(4);
            // cancel returns at once: the caller's thread leaves run (and the engine) on its own
            assertThat(exited.await(10, TimeUnit.SECONDS)).as("the interrupted caller returned").isTrue();
            assertThat(shared.sequencesInEngine(0)).isZero();
        }
    }

    @Test
    void streamedTextArrivesProgressivelyWhileAnotherBatchSharesTheEngine() throws Exception {
        record Piece(String text, long atMs) {
        }
        List<Piece> pieces = Collections.synchronizedList(new ArrayList<>());
        SequenceWork streamedSeq = new SequenceWork("st", "dense-10b", List.of(), 300, 60, null, 0, null, true); // ~2 characters a token
        BatchWork other = batch("other", 0, 1, sequences("o", 3, 800, 100));
        SimulatedBackend.Submitted o = backend.start(other, TokenSink.NONE);
        clock.advanceMillis(100);
        SimulatedBackend.Submitted s = backend.start(batch("streamed", 0, 1, List.of(streamedSeq)),
                (job, text) -> pieces.add(new Piece(text, clock.millis())));
        Future<List<SequenceOutcome>> otherDone = awaitOn(o);
        Callable<List<SequenceOutcome>> awaitStreamed = s::await;
        SequenceOutcome.Completed done = completed(get(threads.submit(awaitStreamed))).get(0);
        get(otherDone);

        assertThat(String.join("", pieces.stream().map(Piece::text).toList())).isEqualTo(done.text());
        assertThat(pieces.get(0).atMs()).isEqualTo(done.firstTokenAtMs());
        assertThat(pieces.get(pieces.size() - 1).atMs()).isEqualTo(done.finishedAtMs());
        long decodeMs = done.finishedAtMs() - done.firstTokenAtMs();
        // a piece on (nearly) every tick, unless the text has fewer characters than the decode has ticks
        long ticks = decodeMs / SimulatedBackend.STREAM_TICK_MS;
        assertThat(pieces.size()).as("pieces over a %d ms decode of %d characters", decodeMs, done.text().length())
                .isGreaterThanOrEqualTo((int) (0.8 * Math.min(ticks, done.text().length())));
        for (int i = 1; i < pieces.size(); i++) {
            assertThat(pieces.get(i).atMs() - pieces.get(i - 1).atMs()).as("gap before piece " + i)
                    .isLessThanOrEqualTo(SimulatedBackend.STREAM_TICK_MS + 25); // a tick, or the iteration it falls in
        }
        // proportional to the tokens generated: the middle piece ends about half-way through the text
        int half = pieces.size() / 2;
        int upTo = pieces.subList(0, half + 1).stream().mapToInt(p -> p.text().length()).sum();
        double timeShare = (pieces.get(half).atMs() - done.firstTokenAtMs()) / (double) decodeMs;
        assertThat(upTo / (double) done.text().length()).isCloseTo(timeShare, org.assertj.core.data.Offset.offset(0.1));
    }
}
