package io.inferq.workers.backend;

import io.inferq.workers.chips.BatchEstimate;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * A backend that runs nothing: it takes as long as a {@link RooflineModel} says the batch would take on
 * the pool's chips, divided by a time-scale factor, and answers with text that says it is simulated.
 * The embedded default and the capacity planner of load tests.
 *
 * <h2>Behaviour</h2>
 * <ul>
 *   <li><b>Output length</b>: every sequence generates exactly {@code maxTokens} tokens and finishes with
 *       {@code finish_reason = "length"}. Deterministic and equal to what a cost model predicts from the
 *       request; a trace replay sets {@code max_tokens} to the trace's output length.</li>
 *   <li><b>Text</b>: {@code "[simulated deepseek-r1 on 4 × Huawei Ascend 910B] ..."} naming the job and the
 *       token counts; a function of the request only.</li>
 *   <li><b>Timing</b>: prefill of all uncached prompt tokens of the batch, then batched decode steps
 *       ({@link RooflineModel#estimateBatch}). Every sequence's first token is stamped when prefill ends, its
 *       finish when its last decode step ends. Real time = simulated time ÷ {@code timeScale}; timestamps
 *       come from the injected clock.</li>
 *   <li><b>KV capacity</b>: if the batch's prompts plus outputs exceed the instance's KV capacity, it
 *       runs in consecutive waves that fit (in batch order), as an engine's scheduler admits only what
 *       fits; the dispatcher's token budget should normally prevent this.</li>
 *   <li><b>Refusals</b>, as a real engine would answer {@code 400}/{@code 404}: a sequence asking for a
 *       model other than the pool's ({@code model_not_found}), or whose prompt + {@code maxTokens} exceed
 *       the model's context or the instance's whole KV capacity ({@code context_length_exceeded}), fails
 *       with a {@link InferenceError.Fatal} without delaying the others. Nothing else fails.</li>
 * </ul>
 *
 * <p><b>Threading.</b> Stateless apart from immutable configuration: {@link #run} may be called from any
 * number of slot threads at once (one per instance) and blocks the caller for the simulated duration.
 * Interruption ends the sleep and propagates as {@link InterruptedException}.
 */
public final class SimulatedBackend implements InferenceBackend {
    private final RooflineModel roofline;
    private final double timeScale;
    private final BackendClock clock;

    /**
     * @param roofline  the instance's chips and model (one instance; every instance of a pool is alike)
     * @param timeScale how many times faster than real time to run, e.g. 60 replays an hour in a minute;
     *                  positive and finite
     * @param clock     the clock to sleep on and stamp with
     */
    public SimulatedBackend(RooflineModel roofline, double timeScale, BackendClock clock) {
        this.roofline = Objects.requireNonNull(roofline, "roofline");
        this.clock = Objects.requireNonNull(clock, "clock");
        if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
            throw new IllegalArgumentException("timeScale must be positive and finite, was " + timeScale);
        }
        this.timeScale = timeScale;
    }

    public RooflineModel roofline() {
        return roofline;
    }

    public double timeScale() {
        return timeScale;
    }

    @Override
    public List<SequenceOutcome> run(BatchWork batch) throws InterruptedException {
        List<SequenceWork> sequences = batch.sequences();
        SequenceOutcome[] outcomes = new SequenceOutcome[sequences.size()];
        List<List<Integer>> waves = new ArrayList<>();
        List<Integer> wave = new ArrayList<>();
        long waveTokens = 0;
        long capacity = roofline.kvCapacityTokens();
        for (int i = 0; i < sequences.size(); i++) {
            SequenceWork s = sequences.get(i);
            InferenceError refusal = refusal(s, capacity);
            if (refusal != null) {
                outcomes[i] = new SequenceOutcome.Failed(s.jobId(), refusal);
                continue;
            }
            long tokens = (long) s.promptTokens() + s.maxTokens();
            if (!wave.isEmpty() && waveTokens + tokens > capacity) {
                waves.add(wave);
                wave = new ArrayList<>();
                waveTokens = 0;
            }
            wave.add(i);
            waveTokens += tokens;
        }
        if (!wave.isEmpty()) {
            waves.add(wave);
        }

        long startNanos = clock.nanoTime();
        double waveStartSeconds = 0;
        for (List<Integer> members : waves) {
            List<SequenceShape> shapes = members.stream().map(i -> shape(sequences.get(i))).toList();
            BatchEstimate estimate = roofline.estimateBatch(shapes);
            sleepUntil(startNanos, waveStartSeconds + estimate.prefillSeconds());
            long firstTokenAt = clock.epochMillis();
            Integer[] order = new Integer[members.size()];
            Arrays.setAll(order, k -> k);
            Arrays.sort(order, Comparator.comparingDouble(k -> estimate.finishSeconds().get(k)));
            for (int k : order) {
                sleepUntil(startNanos, waveStartSeconds + estimate.finishSeconds().get(k));
                int index = members.get(k);
                outcomes[index] = completed(sequences.get(index), batch.instance(), firstTokenAt,
                        clock.epochMillis());
            }
            waveStartSeconds += estimate.totalSeconds();
        }
        return List.of(outcomes);
    }

    private InferenceError refusal(SequenceWork s, long kvCapacityTokens) {
        ModelProfile model = roofline.model();
        if (!model.name().equals(s.model())) {
            return new InferenceError.Fatal("invalid_request_error", "model_not_found",
                    "The model '" + s.model() + "' does not exist on this pool; it serves '" + model.name() + "'.");
        }
        long requested = (long) s.promptTokens() + s.maxTokens();
        long limit = Math.min(model.maxContextTokens(), kvCapacityTokens);
        if (requested > limit) {
            return new InferenceError.Fatal("invalid_request_error", "context_length_exceeded",
                    "This model's maximum context length is " + limit + " tokens"
                            + (limit < model.maxContextTokens() ? " (the KV cache capacity of this instance)" : "")
                            + ". However, you requested " + requested + " tokens (" + s.promptTokens()
                            + " in the messages, " + s.maxTokens() + " in the completion).");
        }
        return null;
    }

    private static SequenceShape shape(SequenceWork s) {
        return new SequenceShape(s.promptTokens(), s.cachedPrefixTokens(), s.maxTokens());
    }

    private void sleepUntil(long startNanos, double simulatedSeconds) throws InterruptedException {
        long target = startNanos + (long) (simulatedSeconds / timeScale * 1e9);
        long remaining = target - clock.nanoTime();
        if (remaining > 0) {
            clock.sleepNanos(remaining);
        }
    }

    private SequenceOutcome.Completed completed(SequenceWork s, int instance, long firstTokenAt, long finishedAt) {
        String text = "[simulated " + roofline.model().name() + " on " + roofline.chips() + " × "
                + roofline.chip().name() + ", instance " + instance + "] " + s.maxTokens()
                + " simulated tokens for job " + s.jobId() + " (prompt " + s.promptTokens() + " tokens, "
                + s.cachedPrefixTokens() + " from cache).";
        return new SequenceOutcome.Completed(s.jobId(), text, "length", s.promptTokens(), s.maxTokens(),
                s.cachedPrefixTokens(), firstTokenAt, finishedAt);
    }

    /** @return e.g. {@code "simulated roofline: 4 × Huawei Ascend 910B, deepseek-r1 in BF16, time scale 60×"} */
    @Override
    public String describe() {
        List<String> assumed = roofline.unpublishedFigures();
        return "simulated roofline: " + roofline.describe() + ", time scale " + timeScale + "×"
                + (assumed.isEmpty() ? "" : "; figures not published: " + String.join("; ", assumed));
    }
}
