package io.inferq.workers.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ChipFigure;
import io.inferq.workers.chips.ChipProfile;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.WeightPrecision;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Both engine models where a batch alone on its instance behaves alike; {@code STATIC} where its arithmetic is tested. */
class SimulatedBackendTest {
    static final long T0 = 1_700_000_000_000L;
    // 1e14 FLOP/s prefill and 1e12 B/s decode, 20 GB weights, 1000 B/token KV, 160e6 tokens of KV
    static final ChipProfile CHIP = new ChipProfile("round", "Round Chip", "Test", "test",
            ChipFigure.published(100), ChipFigure.published(1.0), ChipFigure.published(100), null, null,
            "", "", true, "");
    static final ModelProfile MODEL = new ModelProfile("dense-10b", "Dense 10B", 10_000_000_000L,
            10_000_000_000L, 10, 1000, WeightPrecision.BF16, 100_000, "GQA");
    static final RooflineModel ROOFLINE = new RooflineModel(CHIP, 2, MODEL, WeightPrecision.BF16,
            new RooflineAssumptions(0.5, 0.5, 0.9, 10e9));

    final ManualClock clock = new ManualClock(T0);

    static SequenceWork sequence(String jobId, int prompt, int cached, int maxTokens) {
        return new SequenceWork(jobId, "dense-10b", List.of(new SequenceWork.Message("user", "hi")), prompt,
                maxTokens, null, cached);
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void takesTheRooflineDurationOnTheInjectedClock(SimulatedBackend.EngineModel model) throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(ROOFLINE, 1.0, clock, model);
        List<SequenceOutcome> outcomes = backend.run(new BatchWork("b1", "p", 0, List.of(
                sequence("long", 200, 100, 3), sequence("short", 100, 0, 1))));

        // prefill of 200 uncached tokens: 0.04 s (+ 10 µs to fetch the cached prefix's KV); then 2 decode steps
        // of ~0.02 s each (see RooflineModelTest)
        assertThat(outcomes).hasSize(2);
        var longJob = (SequenceOutcome.Completed) outcomes.get(0);
        var shortJob = (SequenceOutcome.Completed) outcomes.get(1);
        assertThat(shortJob.jobId()).isEqualTo("short");
        assertThat(shortJob.firstTokenAtMs()).isEqualTo(T0 + 40);
        assertThat(shortJob.finishedAtMs()).isEqualTo(T0 + 40);
        assertThat(longJob.firstTokenAtMs()).isEqualTo(T0 + 40);
        assertThat(longJob.finishedAtMs()).isEqualTo(T0 + 80);
        assertThat(clock.elapsedNanos()).isBetween(80_010_000L, 80_011_000L);

        assertThat(longJob.completionTokens()).isEqualTo(3);
        assertThat(longJob.promptTokens()).isEqualTo(200);
        assertThat(longJob.cachedTokens()).isEqualTo(100);
        assertThat(longJob.finishReason()).isEqualTo("length");
        assertThat(longJob.text()).startsWith("[simulated dense-10b on 2 × Round Chip");
    }

    @Test
    void timeScaleDividesTheSleep() throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(ROOFLINE, 40.0, clock, SimulatedBackend.EngineModel.STATIC);
        backend.run(new BatchWork("b1", "p", 0, List.of(sequence("a", 200, 100, 3), sequence("b", 100, 0, 1))));
        // (0.080000403 s + 10 µs fetching the cached prefix's KV) / 40 = 2,000,260 ns
        assertThat(clock.elapsedNanos()).isEqualTo(2_000_260L);
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void outputIsDeterministic(SimulatedBackend.EngineModel model) throws InterruptedException {
        BatchWork batch = new BatchWork("b1", "p", 1, List.of(sequence("a", 500, 0, 7)));
        var first = new SimulatedBackend(ROOFLINE, 1.0, new ManualClock(T0), model).run(batch);
        var second = new SimulatedBackend(ROOFLINE, 1.0, new ManualClock(T0), model).run(batch);
        assertThat(first).isEqualTo(second);
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void refusesAnotherModelAndOverlongRequestsWithoutDelayingTheRest(SimulatedBackend.EngineModel model)
            throws InterruptedException {
        SimulatedBackend backend = new SimulatedBackend(ROOFLINE, 1.0, clock, model);
        SequenceWork otherModel = new SequenceWork("x", "gpt-4", List.of(), 10, 10, null, 0);
        List<SequenceOutcome> outcomes = backend.run(new BatchWork("b", "p", 0, List.of(
                otherModel, sequence("too-long", 99_990, 0, 11), sequence("ok", 100, 0, 1))));

        var modelError = (SequenceOutcome.Failed) outcomes.get(0);
        assertThat(modelError.error()).isInstanceOf(InferenceError.Fatal.class);
        assertThat(modelError.error().code()).isEqualTo("model_not_found");
        var lengthError = (SequenceOutcome.Failed) outcomes.get(1);
        assertThat(lengthError.error().code()).isEqualTo("context_length_exceeded");
        assertThat(lengthError.error().message()).contains("maximum context length is 100000 tokens")
                .contains("you requested 100001 tokens");
        var ok = (SequenceOutcome.Completed) outcomes.get(2);
        // only the valid sequence was prefilled: 100 tokens x 2e10 / 1e14 = 0.02 s
        assertThat(ok.finishedAtMs()).isEqualTo(T0 + 20);
    }

    /** Static: in waves that fit; continuous: the engine admits the second sequence when the first frees its KV. */
    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void batchBeyondKvCapacityRunsInWaves(SimulatedBackend.EngineModel model) throws InterruptedException {
        // 1 × 64 GB chip, 0.5 usable = 32 GB; 30 GB weights -> 2 GB of KV = 2,000,000 tokens at 1000 B/token
        ModelProfile big = new ModelProfile("big", "Big", 15_000_000_000L, 15_000_000_000L, 10, 1000,
                WeightPrecision.BF16, 2_000_000, "");
        ChipProfile chip = new ChipProfile("c", "C", "T", "t", ChipFigure.published(64), ChipFigure.published(1),
                ChipFigure.published(100), null, null, "", "", true, "");
        RooflineModel roofline = new RooflineModel(chip, 1, big, WeightPrecision.BF16,
                new RooflineAssumptions(0.5, 0.5, 0.5, 10e9));
        assertThat(roofline.kvCapacityTokens()).isEqualTo(2_000_000L);
        SimulatedBackend backend = new SimulatedBackend(roofline, 1.0, clock, model);
        SequenceWork a = new SequenceWork("a", "big", List.of(), 1_200_000, 1, null, 0);
        SequenceWork b = new SequenceWork("b", "big", List.of(), 1_200_000, 1, null, 0);
        List<SequenceOutcome> outcomes = backend.run(new BatchWork("b", "p", 0, List.of(a, b)));
        var first = (SequenceOutcome.Completed) outcomes.get(0);
        var second = (SequenceOutcome.Completed) outcomes.get(1);
        // each wave prefills 1.2e6 tokens x 3e10 FLOPs / 5e13 FLOP/s = 720 s; the second starts after the first
        assertThat(first.finishedAtMs()).isEqualTo(T0 + 720_000);
        assertThat(second.firstTokenAtMs()).isEqualTo(T0 + 1_440_000);
    }

    @Test
    void builtInFleetDescribesItselfAndItsUnpublishedFigures() {
        RooflineModel r1 = RooflineModel.of(ChipCatalogue.builtIn().get("ascend-910b"), 32,
                ModelCatalogue.builtIn().get("deepseek-r1"));
        String description = new SimulatedBackend(r1, 60, clock).describe();
        assertThat(description).startsWith("simulated roofline: 32 × Huawei Ascend 910B, deepseek-r1 in BF16")
                .contains("time scale 60.0×, continuous batching").contains("bandwidth 1.6 TB/s (unconfirmed");
        assertThat(new SimulatedBackend(r1, 60, clock, SimulatedBackend.EngineModel.STATIC).describe())
                .contains("time scale 60.0×, static batches");
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.EngineModel.class)
    void interruptionPropagates(SimulatedBackend.EngineModel model) {
        SimulatedBackend backend = new SimulatedBackend(ROOFLINE, 1.0, clock, model);
        Thread.currentThread().interrupt();
        assertThatThrownBy(() -> backend.run(new BatchWork("b", "p", 0, List.of(sequence("a", 10, 0, 2)))))
                .isInstanceOf(InterruptedException.class);
        assertThat(Thread.interrupted()).as("the interrupt is consumed by the exception").isFalse();
        assertThat(backend.sequencesInEngine(0)).as("sequences left in the engine").isZero();
    }

    @Test
    void rejectsABadTimeScale() {
        assertThatThrownBy(() -> new SimulatedBackend(ROOFLINE, 0, clock)).hasMessageContaining("timeScale");
    }
}
