package io.inferq.workers.chips;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * A roofline time and capacity model of one inference instance: {@code chips} chips of one kind holding
 * one model. Pure functions of the profile figures; immutable and thread-safe. Used by the simulated
 * backend to decide how long a batch takes, and by cost models to predict it.
 *
 * <h2>Model and its assumptions</h2>
 * <ul>
 *   <li><b>Prefill is compute-bound</b>: {@code seconds = uncached prompt tokens × 2 × active params ÷
 *       (peak FLOP/s × chips × MFU)}. The 2 × params FLOPs per token ignore attention's own FLOPs,
 *       which grow with prompt length (an underestimate for prompts of tens of thousands of tokens).
 *       Peak is the dense BF16 figure, or the FP8 figure when the weights are served in FP8 on a chip
 *       with FP8 (INT8 weights are assumed weight-only quantised, computing in BF16).</li>
 *   <li><b>Decode is bandwidth-bound</b>: each step of a batch reads the weights once — for an MoE
 *       model only the active parameters' bytes, which is a lower bound: a large batch routes its tokens
 *       to more distinct experts — plus the KV cache of every running sequence's context:
 *       {@code seconds = (active params × bytes/param + Σ context tokens × KV bytes/token) ÷ (bandwidth ×
 *       chips × MBU)}. At decode step {@code k} (1-based) a sequence's context is {@code prompt + k}
 *       tokens. Compute during decode is assumed never to be the bottleneck.</li>
 *   <li><b>Chips scale perfectly</b> (tensor/expert parallel with no communication cost): an instance of
 *       {@code n} chips has {@code n ×} the memory, bandwidth and FLOP/s of one.</li>
 *   <li><b>The first output token comes out of prefill</b>; a sequence generating {@code n} tokens takes
 *       {@code n − 1} decode steps, all sequences of a batch step together (continuous batching within
 *       the batch: finished sequences leave, no new ones join).</li>
 *   <li><b>KV cache is BF16</b> ({@link ModelProfile#kvBytesPerToken()}), and the memory left for it is
 *       {@code memory × chips × memoryUtilisation − weights}.</li>
 *   <li><b>Weights</b> take {@code total params × bytes/param} of the {@link WeightPrecision} served — FP8
 *       checkpoints become BF16 on chips without FP8 unless a precision is given
 *       ({@link WeightPrecision#servedOn}).</li>
 *   <li>Figures flagged unconfirmed, estimated or assumed in the catalogue are used as they are;
 *       {@link #unpublishedFigures()} lists them so a report can say what it assumed.</li>
 * </ul>
 */
public final class RooflineModel {
    private final ChipProfile chip;
    private final int chips;
    private final ModelProfile model;
    private final WeightPrecision precision;
    private final RooflineAssumptions assumptions;

    /**
     * @param chip        the chip kind
     * @param chips       chips per instance, at least 1
     * @param model       the model served
     * @param precision   the precision the weights are held in; FP8 requires a chip with FP8
     * @param assumptions efficiency factors
     */
    public RooflineModel(ChipProfile chip, int chips, ModelProfile model, WeightPrecision precision,
            RooflineAssumptions assumptions) {
        this.chip = Objects.requireNonNull(chip, "chip");
        this.model = Objects.requireNonNull(model, "model");
        this.precision = Objects.requireNonNull(precision, "precision");
        this.assumptions = Objects.requireNonNull(assumptions, "assumptions");
        if (chips < 1) {
            throw new IllegalArgumentException("chips per instance must be at least 1, was " + chips);
        }
        if (precision == WeightPrecision.FP8 && !chip.hasFp8()) {
            throw new IllegalArgumentException(chip.name() + " has no FP8: weights cannot be served in FP8");
        }
        this.chips = chips;
    }

    /** @return a model with the default precision for the chip and default assumptions */
    public static RooflineModel of(ChipProfile chip, int chips, ModelProfile model) {
        return new RooflineModel(chip, chips, model, WeightPrecision.servedOn(model, chip),
                RooflineAssumptions.defaults());
    }

    public ChipProfile chip() {
        return chip;
    }

    public int chips() {
        return chips;
    }

    public ModelProfile model() {
        return model;
    }

    public WeightPrecision precision() {
        return precision;
    }

    public RooflineAssumptions assumptions() {
        return assumptions;
    }

    /** @return bytes of all weights of the instance */
    public double weightBytes() {
        return (double) model.totalParams() * precision.bytesPerParam();
    }

    /** @return weight bytes one decode step reads (the active parameters) */
    public double activeWeightBytes() {
        return (double) model.activeParams() * precision.bytesPerParam();
    }

    /** @return device memory the engine may use: memory × chips × memory utilisation */
    public double usableMemoryBytes() {
        return chip.memoryBytes() * chips * assumptions.memoryUtilisation();
    }

    /** @return bytes left for KV cache after the weights; negative when the weights do not fit */
    public double kvBudgetBytes() {
        return usableMemoryBytes() - weightBytes();
    }

    /** @return tokens of KV cache the instance can hold, 0 when the weights do not fit */
    public long kvCapacityTokens() {
        double budget = kvBudgetBytes();
        return budget <= 0 ? 0 : (long) Math.floor(budget / model.kvBytesPerToken());
    }

    /** @return effective FLOP/s of the instance during prefill */
    public double prefillFlopsPerSecond() {
        double tflops = precision == WeightPrecision.FP8 && chip.hasFp8()
                ? chip.fp8Tflops().value() : chip.bf16Tflops().value();
        return tflops * 1e12 * chips * assumptions.mfu();
    }

    /** @return effective bytes/s of the instance during decode */
    public double decodeBytesPerSecond() {
        return chip.bandwidthBytesPerSecond() * chips * assumptions.mbu();
    }

    /** @return seconds to prefill {@code uncachedTokens} prompt tokens (of any number of sequences) */
    public double prefillSeconds(long uncachedTokens) {
        requireNonNegative(uncachedTokens, "uncachedTokens");
        return uncachedTokens * 2.0 * model.activeParams() / prefillFlopsPerSecond();
    }

    /**
     * @param contextTokens the sum of the contexts of all sequences taking part in the step
     * @return seconds for one decode step of a batch
     */
    public double decodeStepSeconds(long contextTokens) {
        requireNonNegative(contextTokens, "contextTokens");
        return (activeWeightBytes() + (double) contextTokens * model.kvBytesPerToken()) / decodeBytesPerSecond();
    }

    /** @return seconds to move {@code kvBytes} of cached KV over the network */
    public double kvTransferSeconds(long kvBytes) {
        requireNonNegative(kvBytes, "kvBytes");
        return kvBytes / assumptions.networkBytesPerSecond();
    }

    /** @return seconds to move the KV cache of {@code tokens} tokens over the network */
    public double kvTransferSecondsForTokens(long tokens) {
        requireNonNegative(tokens, "tokens");
        return kvTransferSeconds(tokens * model.kvBytesPerToken());
    }

    /**
     * The timeline of one batch: fetching the cached prefix blocks' KV at the network bandwidth, prefill
     * of all uncached prompt tokens, then batched decode steps until every sequence has its output.
     * Cached KV is charged as if fetched from the shared tier even when the worker's local tier held it:
     * a conservative simplification. Runs in O(n log n + longest output).
     */
    public BatchEstimate estimateBatch(List<SequenceShape> sequences) {
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one sequence");
        }
        long uncached = 0;
        long cached = 0;
        long promptSum = 0;
        for (SequenceShape s : sequences) {
            uncached += s.uncachedTokens();
            cached += s.promptTokens() - s.uncachedTokens();
            promptSum += s.promptTokens();
        }
        double prefill = prefillSeconds(uncached) + (cached == 0 ? 0 : kvTransferSecondsForTokens(cached));

        Integer[] byOutput = new Integer[sequences.size()];
        Arrays.setAll(byOutput, i -> i);
        Arrays.sort(byOutput, Comparator.comparingInt(i -> sequences.get(i).outputTokens()));
        double[] finish = new double[sequences.size()];
        int active = sequences.size();
        int next = 0;
        double elapsed = prefill;
        int maxOutput = sequences.get(byOutput[byOutput.length - 1]).outputTokens();
        for (int step = 1; step < maxOutput; step++) {
            while (sequences.get(byOutput[next]).outputTokens() <= step) {
                finish[byOutput[next]] = elapsed;
                promptSum -= sequences.get(byOutput[next]).promptTokens();
                active--;
                next++;
            }
            elapsed += decodeStepSeconds(promptSum + (long) active * step);
        }
        for (; next < byOutput.length; next++) {
            finish[byOutput[next]] = elapsed;
        }
        List<Double> finishes = new ArrayList<>(finish.length);
        for (double f : finish) {
            finishes.add(f);
        }
        return new BatchEstimate(prefill, maxOutput - 1, finishes, elapsed);
    }

    /** @return the catalogue figures this model relies on that are not published (see {@link ChipProfile}) */
    public List<String> unpublishedFigures() {
        return chip.unpublishedFigures();
    }

    /** @return e.g. {@code "4 × Huawei Ascend 910B, deepseek-r1 in BF16"} */
    public String describe() {
        return chips + " × " + chip.name() + ", " + model.name() + " in " + precision;
    }

    @Override
    public String toString() {
        return "RooflineModel[" + describe() + "]";
    }

    private static void requireNonNegative(long value, String name) {
        if (value < 0) {
            throw new IllegalArgumentException(name + " must not be negative, was " + value);
        }
    }
}
