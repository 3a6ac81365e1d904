package io.inferq.workers.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import io.inferq.workers.engine.ContinuousBatchingEngine.Event;
import io.inferq.workers.engine.ContinuousBatchingEngine.Kind;
import io.inferq.workers.engine.ContinuousBatchingEngine.Limits;
import io.inferq.workers.engine.ContinuousBatchingEngine.Request;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The engine model in virtual time: the caller's clock is the only clock, so every run is deterministic. */
class ContinuousBatchingEngineTest {
    private static final RooflineModel H800_R1 = RooflineModel.of(ChipCatalogue.builtIn().get("h800"), 16,
            ModelCatalogue.builtIn().get("deepseek-r1"));

    /** Runs the engine until idle, recording each sequence's events by kind. */
    private static Map<String, Map<Kind, Double>> drain(ContinuousBatchingEngine e, List<Event> sink) {
        while (!e.idle()) {
            sink.addAll(e.advanceTo(e.nextEventSeconds()));
        }
        Map<String, Map<Kind, Double>> out = new HashMap<>();
        for (Event ev : sink) {
            out.computeIfAbsent(ev.id(), k -> new HashMap<>()).putIfAbsent(ev.kind(), ev.atSeconds());
        }
        return out;
    }

    @Test
    void limitsFollowTheRooflineRidgeAndTheChunkTime() {
        Limits l = Limits.of(H800_R1);
        double ridge = H800_R1.activeWeightBytes() / H800_R1.decodeBytesPerSecond() * H800_R1.prefillFlopsPerSecond()
                / (2.0 * H800_R1.model().activeParams());
        assertThat(l.maxRunningSequences()).isEqualTo((int) Math.max(8, Math.min(256, Math.floor(ridge))));
        // a full chunk prefills in about CHUNK_SECONDS
        assertThat(H800_R1.prefillSeconds(l.iterationTokens())).isBetween(0.05, 0.05 + H800_R1.prefillSeconds(256));
        assertThat(l.kvCapacityTokens()).isEqualTo(H800_R1.kvCapacityTokens());
    }

    @Test
    void aBatchAloneTakesAboutTheRooflineEstimate() {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1);
        List<SequenceShape> shapes = new ArrayList<>();
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int prompt = 1_000 + 500 * i;
            int out = 50 + 25 * i;
            shapes.add(new SequenceShape(prompt, 0, out));
            events.addAll(e.submit(new Request("s" + i, prompt, 0, out, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        }
        Map<String, Map<Kind, Double>> t = drain(e, events);
        double last = t.values().stream().mapToDouble(m -> m.get(Kind.FINISHED)).max().orElseThrow();
        double estimate = H800_R1.estimateBatch(shapes).totalSeconds();
        // the same prefill and decode work; chunked prefill adds one decode step per extra chunk iteration, while the
        // sequences done prefilling already decode
        assertThat(last).isCloseTo(estimate, org.assertj.core.data.Percentage.withPercentage(3));
        // every iteration was paid for: busy time equals the span of the run (no idle gaps)
        assertThat(e.busySeconds()).isCloseTo(last, within(1e-9));
    }

    @Test
    void aNewSequenceJoinsARunningBatchAtTheNextIteration() {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            events.addAll(e.submit(new Request("long" + i, 2_000, 0, 2_000, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        }
        events.addAll(e.advanceTo(1.0)); // the long ones are decoding now
        double boundary = e.nextEventSeconds();
        events.addAll(e.submit(new Request("short", 500, 0, 10, ContinuousBatchingEngine.PRIORITY_NORMAL), 1.0));
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(t.get("short").get(Kind.ADMITTED)).isEqualTo(boundary);
        assertThat(t.get("short").get(Kind.FINISHED)).isLessThan(t.get("long0").get(Kind.FINISHED));
    }

    @Test
    void higherPriorityIsAdmittedFirstAndPreemptsBatchWorkWhichStillFinishes() {
        // room for 2 sequences only
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(2, 4_096, 10_000_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("b1", 1_000, 0, 3_000, ContinuousBatchingEngine.PRIORITY_BATCH), 0));
        events.addAll(e.submit(new Request("b2", 1_000, 0, 3_000, ContinuousBatchingEngine.PRIORITY_BATCH), 0));
        events.addAll(e.submit(new Request("b3", 1_000, 0, 3_000, ContinuousBatchingEngine.PRIORITY_BATCH), 0));
        events.addAll(e.advanceTo(0.5));
        assertThat(e.runningSequences()).isEqualTo(2);
        events.addAll(e.submit(new Request("n1", 800, 0, 20, ContinuousBatchingEngine.PRIORITY_NORMAL), 0.5));
        events.addAll(e.submit(new Request("h1", 800, 0, 20, ContinuousBatchingEngine.PRIORITY_HIGH), 0.5));
        double boundary = e.nextEventSeconds();
        Map<String, Map<Kind, Double>> t = drain(e, events);
        // both interactive sequences start at the next boundary, preempting the two running batch sequences
        assertThat(t.get("h1").get(Kind.ADMITTED)).isEqualTo(boundary);
        assertThat(t.get("n1").get(Kind.ADMITTED)).isEqualTo(boundary);
        assertThat(t.get("b2").get(Kind.PREEMPTED)).isEqualTo(boundary);
        assertThat(t.get("b1").get(Kind.PREEMPTED)).isEqualTo(boundary);
        assertThat(e.preemptions()).isEqualTo(2);
        // the high-priority prompt is prefilled first
        assertThat(t.get("h1").get(Kind.FIRST_TOKEN)).isLessThanOrEqualTo(t.get("n1").get(Kind.FIRST_TOKEN));
        // no starvation: every batch sequence finishes, and b3 (waiting, never preempted) after the preempted ones resume
        for (String b : List.of("b1", "b2", "b3")) {
            assertThat(t.get(b)).containsKey(Kind.FINISHED);
            assertThat(t.get(b).get(Kind.FINISHED)).isGreaterThan(t.get("h1").get(Kind.FINISHED));
        }
        assertThat(e.kvReservedTokens()).isZero();
    }

    @Test
    void highIsAdmittedAtOnceIntoAnEngineFullOfNormalWorkPreemptingTheLatestNormal() {
        // room for 2 sequences: n1 and n2 run, n3 waits
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(2, 4_096, 10_000_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("n1", 1_000, 0, 2_000, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.submit(new Request("n2", 1_000, 0, 2_000, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.submit(new Request("n3", 1_000, 0, 2_000, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.advanceTo(0.5));
        assertThat(e.runningSequences()).isEqualTo(2);
        events.addAll(e.submit(new Request("h", 800, 0, 20, ContinuousBatchingEngine.PRIORITY_HIGH), 0.5));
        double boundary = e.nextEventSeconds();
        events.addAll(e.advanceTo(boundary));
        assertThat(e.runningSequences()).isEqualTo(2);
        assertThat(e.waitingSequences()).isEqualTo(2);
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(t.get("h").get(Kind.ADMITTED)).isEqualTo(boundary);
        // the most recently submitted running NORMAL sequence made room, once; n1 and the waiting n3 were not touched
        assertThat(t.get("n2").get(Kind.PREEMPTED)).isEqualTo(boundary);
        assertThat(t.get("n1")).doesNotContainKey(Kind.PREEMPTED);
        assertThat(t.get("n3")).doesNotContainKey(Kind.PREEMPTED);
        assertThat(e.preemptions()).isEqualTo(1);
        // its first token about as fast as alone: one chunk of prefill beside one decoding sequence
        ContinuousBatchingEngine idle = new ContinuousBatchingEngine(H800_R1, new Limits(2, 4_096, 10_000_000), 1.0);
        double aloneTtft = drain(idle, new ArrayList<>(idle.submit(
                new Request("h", 800, 0, 20, ContinuousBatchingEngine.PRIORITY_HIGH), 0))).get("h").get(Kind.FIRST_TOKEN);
        assertThat(t.get("h").get(Kind.FIRST_TOKEN) - boundary)
                .isLessThanOrEqualTo(aloneTtft + H800_R1.decodeStepSeconds(1_000 + 2_000));
        // the preempted n2 is readmitted before n3 (it keeps its submission order) and everything finishes
        assertThat(t.get("n2").get(Kind.FINISHED)).isLessThan(t.get("n3").get(Kind.FINISHED));
        assertThat(t.keySet()).allMatch(id -> t.get(id).containsKey(Kind.FINISHED));
        assertThat(e.kvReservedTokens()).isZero();
    }

    @Test
    void highPreemptsNormalWhenTheKvIsFull() {
        // KV for one of the two sequences, sequence cap not reached
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(8, 4_096, 10_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("n", 4_000, 0, 4_000, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.advanceTo(0.5));
        events.addAll(e.submit(new Request("h", 3_000, 0, 100, ContinuousBatchingEngine.PRIORITY_HIGH), 0.5));
        double boundary = e.nextEventSeconds();
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(t.get("h").get(Kind.ADMITTED)).isEqualTo(boundary);
        assertThat(t.get("n").get(Kind.PREEMPTED)).isEqualTo(boundary);
        // n is readmitted only when h has left
        assertThat(t.get("n").get(Kind.FINISHED)).isGreaterThan(t.get("h").get(Kind.FINISHED));
    }

    @Test
    void aPreemptedNormalSequenceRecomputesItsPromptAndTokensAndStillFinishes() {
        Limits one = new Limits(1, 4_096, 10_000_000);
        Request normal = new Request("n", 3_000, 0, 400, ContinuousBatchingEngine.PRIORITY_NORMAL);
        ContinuousBatchingEngine alone = new ContinuousBatchingEngine(H800_R1, one, 1.0);
        double aloneEnd = drain(alone, new ArrayList<>(alone.submit(normal, 0))).get("n").get(Kind.FINISHED);

        ContinuousBatchingEngine shared = new ContinuousBatchingEngine(H800_R1, one, 1.0);
        List<Event> s = new ArrayList<>(shared.submit(normal, 0));
        s.addAll(shared.advanceTo(0.3));
        int before = shared.generated("n");
        assertThat(before).as("n is decoding").isPositive();
        s.addAll(shared.submit(new Request("h", 100, 0, 5, ContinuousBatchingEngine.PRIORITY_HIGH), 0.3));
        List<Event> after = new ArrayList<>(s);
        Map<String, Map<Kind, Double>> t = drain(shared, after);
        assertThat(t.get("n")).containsKey(Kind.PREEMPTED);
        // its tokens survive the preemption, its first token is not produced twice, and it finishes with all of them
        assertThat(after.stream().filter(ev -> ev.id().equals("n") && ev.kind() == Kind.PREEMPTED).findFirst()
                .orElseThrow().generated()).isGreaterThanOrEqualTo(before);
        assertThat(after.stream().filter(ev -> ev.id().equals("n") && ev.kind() == Kind.FIRST_TOKEN)).hasSize(1);
        assertThat(after.stream().filter(ev -> ev.id().equals("n") && ev.kind() == Kind.FINISHED).findFirst()
                .orElseThrow().generated()).isEqualTo(400);
        // it ends later than alone by more than h's own run plus a prefill of its prompt: prompt and generated tokens
        // were prefilled again
        double high = t.get("h").get(Kind.FINISHED) - t.get("h").get(Kind.ADMITTED);
        assertThat(t.get("n").get(Kind.FINISHED))
                .isGreaterThan(aloneEnd + high + H800_R1.prefillSeconds(3_000) - H800_R1.prefillSeconds(0));
        assertThat(shared.preemptions()).isEqualTo(1);
    }

    @Test
    void noSequenceIsPreemptedWhenThatWouldNotMakeRoom() {
        // KV 10,000: h0 (5,000) and n (4,000) run; h2 (6,000) fits only when h0 leaves, so preempting n is useless
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(8, 4_096, 10_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(List.of(new Request("h0", 4_000, 0, 1_000, ContinuousBatchingEngine.PRIORITY_HIGH),
                new Request("n", 3_000, 0, 1_000, ContinuousBatchingEngine.PRIORITY_NORMAL)), 0));
        events.addAll(e.advanceTo(0.5));
        events.addAll(e.submit(new Request("h2", 5_000, 0, 1_000, ContinuousBatchingEngine.PRIORITY_HIGH), 0.5));
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(e.preemptions()).isZero();
        assertThat(t.get("h2").get(Kind.ADMITTED)).isGreaterThanOrEqualTo(t.get("h0").get(Kind.FINISHED));
    }

    @Test
    void highPriorityPrefillChunksComeFirstWithinTheTokenBudget() {
        // both admitted together; one iteration's budget (1,024) holds a chunk of one prompt only
        Limits limits = new Limits(4, 1_024, 10_000_000);
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, limits, 1.0);
        Map<String, Map<Kind, Double>> t = drain(e, new ArrayList<>(e.submit(List.of(
                new Request("n", 3_000, 0, 5, ContinuousBatchingEngine.PRIORITY_NORMAL),
                new Request("h", 3_000, 0, 5, ContinuousBatchingEngine.PRIORITY_HIGH)), 0)));
        assertThat(t.get("h").get(Kind.FIRST_TOKEN)).isLessThan(t.get("n").get(Kind.FIRST_TOKEN));
        assertThat(e.preemptions()).isZero();
        // with equal priorities the first submitted is prefilled first
        ContinuousBatchingEngine fcfs = new ContinuousBatchingEngine(H800_R1, limits, 1.0);
        Map<String, Map<Kind, Double>> f = drain(fcfs, new ArrayList<>(fcfs.submit(List.of(
                new Request("n", 3_000, 0, 5, ContinuousBatchingEngine.PRIORITY_NORMAL),
                new Request("h", 3_000, 0, 5, ContinuousBatchingEngine.PRIORITY_NORMAL)), 0)));
        assertThat(f.get("n").get(Kind.FIRST_TOKEN)).isLessThan(f.get("h").get(Kind.FIRST_TOKEN));
    }

    @Test
    void equalPrioritiesAreFirstComeFirstServedWhateverThePriority() {
        List<String> normal = run(i -> ContinuousBatchingEngine.PRIORITY_NORMAL);
        assertThat(normal).noneMatch(ev -> ev.contains("PREEMPTED"));
        // admitted in submission order
        List<Integer> admitted = normal.stream().filter(ev -> ev.contains("kind=ADMITTED"))
                .map(ev -> Integer.parseInt(ev.replaceAll(".*id=s(\\d+),.*", "$1"))).toList();
        assertThat(admitted).hasSize(30).isSorted();
        assertThat(run(i -> ContinuousBatchingEngine.PRIORITY_HIGH)).isEqualTo(normal);
        assertThat(run(i -> ContinuousBatchingEngine.PRIORITY_BATCH)).isEqualTo(normal);
    }

    @Test
    void aSteadyStreamOfHighWorkKeepsNormalWorkWaitingNoAging() {
        // documented behaviour, as vLLM's: no aging in the engine; the caller bounds its HIGH work
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(1, 4_096, 10_000_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("n", 500, 0, 50, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        double t = 0.05;
        for (int i = 0; i < 40; i++, t += 0.05) {
            events.addAll(e.submit(new Request("h" + i, 500, 0, 100, ContinuousBatchingEngine.PRIORITY_HIGH), t));
        }
        double lastHigh = t - 0.05;
        events.addAll(e.advanceTo(lastHigh));
        assertThat(e.generated("n")).as("n has not finished while HIGH work kept coming").isBetween(0, 49);
        Map<String, Map<Kind, Double>> done = drain(e, events);
        assertThat(done.get("n").get(Kind.FINISHED)).isGreaterThan(done.get("h39").get(Kind.FINISHED));
        assertThat(e.preemptions()).isEqualTo(1);
    }

    @Test
    void equalPrioritiesNeverPreemptEachOther() {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(1, 4_096, 10_000_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("first", 1_000, 0, 100, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.submit(new Request("second", 1_000, 0, 100, ContinuousBatchingEngine.PRIORITY_NORMAL), 0.01));
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(e.preemptions()).isZero();
        assertThat(t.get("second").get(Kind.ADMITTED)).isEqualTo(t.get("first").get(Kind.FINISHED));
    }

    @Test
    void preemptionRecomputesAndCostsTime() {
        Limits one = new Limits(1, 4_096, 10_000_000);
        ContinuousBatchingEngine alone = new ContinuousBatchingEngine(H800_R1, one, 1.0);
        List<Event> a = new ArrayList<>(alone.submit(new Request("b", 3_000, 0, 400, ContinuousBatchingEngine.PRIORITY_BATCH), 0));
        double aloneEnd = drain(alone, a).get("b").get(Kind.FINISHED);

        ContinuousBatchingEngine shared = new ContinuousBatchingEngine(H800_R1, one, 1.0);
        List<Event> s = new ArrayList<>(shared.submit(new Request("b", 3_000, 0, 400, ContinuousBatchingEngine.PRIORITY_BATCH), 0));
        s.addAll(shared.advanceTo(0.3));
        s.addAll(shared.submit(new Request("i", 100, 0, 5, ContinuousBatchingEngine.PRIORITY_NORMAL), 0.3));
        Map<String, Map<Kind, Double>> t = drain(shared, s);
        double interactive = t.get("i").get(Kind.FINISHED) - t.get("i").get(Kind.ADMITTED);
        // the batch sequence ends later than alone by more than the interactive sequence's own run: it was re-prefilled
        assertThat(t.get("b").get(Kind.FINISHED)).isGreaterThan(aloneEnd + interactive);
    }

    @Test
    void aRemovedSequenceFreesItsSlotAndProducesNothing() {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(1, 4_096, 10_000_000), 1.0);
        List<Event> events = new ArrayList<>();
        events.addAll(e.submit(new Request("gone", 1_000, 0, 500, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.submit(new Request("next", 1_000, 0, 5, ContinuousBatchingEngine.PRIORITY_NORMAL), 0));
        events.addAll(e.advanceTo(0.1));
        assertThat(e.remove("gone")).isTrue();
        assertThat(e.remove("gone")).isFalse();
        Map<String, Map<Kind, Double>> t = drain(e, events);
        assertThat(t.get("gone")).doesNotContainKey(Kind.FINISHED);
        assertThat(t.get("next").get(Kind.FINISHED)).isLessThan(0.2);
        assertThat(e.kvReservedTokens()).isZero();
    }

    @Test
    void aBatchSubmittedTogetherStartsItsFirstIterationTogether() {
        Request a = new Request("a", 1_000, 0, 3, ContinuousBatchingEngine.PRIORITY_NORMAL);
        Request b = new Request("b", 1_000, 0, 3, ContinuousBatchingEngine.PRIORITY_NORMAL);
        ContinuousBatchingEngine together = new ContinuousBatchingEngine(H800_R1);
        Map<String, Map<Kind, Double>> t = drain(together, new ArrayList<>(together.submit(List.of(a, b), 0)));
        assertThat(t.get("b").get(Kind.ADMITTED)).isZero();
        assertThat(t.get("b").get(Kind.FIRST_TOKEN)).isEqualTo(t.get("a").get(Kind.FIRST_TOKEN));
        // one by one, the first runs an iteration alone and the second joins after it
        ContinuousBatchingEngine oneByOne = new ContinuousBatchingEngine(H800_R1);
        List<Event> events = new ArrayList<>(oneByOne.submit(a, 0));
        events.addAll(oneByOne.submit(b, 0));
        assertThat(drain(oneByOne, events).get("b").get(Kind.ADMITTED)).isPositive();

        assertThatThrownBy(() -> together.submit(List.of(new Request("c", 10, 0, 1, 1), new Request("c", 10, 0, 1, 1)), 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(together.idle()).as("nothing of a refused submission entered").isTrue();
    }

    @Test
    void generatedCountsTheTokensSoFar() {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1);
        e.submit(new Request("s", 100, 0, 50, ContinuousBatchingEngine.PRIORITY_NORMAL), 0);
        assertThat(e.generated("s")).isZero();
        int before = 0;
        while (!e.idle()) {
            List<Event> happened = e.advanceTo(e.nextEventSeconds());
            if (happened.stream().noneMatch(ev -> ev.kind() == Kind.FINISHED)) {
                assertThat(e.generated("s")).isGreaterThanOrEqualTo(before);
                before = e.generated("s");
            }
        }
        assertThat(before).isEqualTo(49);
        assertThat(e.generated("s")).as("gone when finished").isEqualTo(-1);
    }

    @Test
    void deterministic() {
        List<String> first = run(i -> i % 3);
        assertThat(run(i -> i % 3)).isEqualTo(first);
    }

    private static List<String> run(java.util.function.IntUnaryOperator priority) {
        ContinuousBatchingEngine e = new ContinuousBatchingEngine(H800_R1, new Limits(4, 2_048, 200_000), 1.5);
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            events.addAll(e.submit(new Request("s" + i, 200 + 97 * i % 3_000, 37 * i % 150, 1 + 13 * i % 90,
                    priority.applyAsInt(i)), i * 0.05));
        }
        while (!e.idle()) {
            events.addAll(e.advanceTo(e.nextEventSeconds()));
        }
        return events.stream().map(Event::toString).toList();
    }
}
