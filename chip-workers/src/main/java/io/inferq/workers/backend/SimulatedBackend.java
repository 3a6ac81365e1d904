package io.inferq.workers.backend;

import io.inferq.workers.chips.BatchEstimate;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import java.time.Clock;
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
 *       {@code finish_reason = "length"} (or {@code "stop"}, its text cut, when it holds a {@code stop} string of
 *       the request; {@code seed} is honoured trivially: the text is a function of the request). Deterministic and equal to what a cost model predicts from the
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
    private final Clock clock;

    /**
     * @param roofline  the instance's chips and model (one instance; every instance of a pool is alike)
     * @param timeScale how many times faster than real time to run, e.g. 60 replays an hour in a minute;
     *                  positive and finite
     * @param clock     the clock to sleep on and stamp with
     */
    public SimulatedBackend(RooflineModel roofline, double timeScale, Clock clock) {
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
        return run(batch, TokenSink.NONE);
    }

    /**
     * Streamed sequences ({@link SequenceWork#streamTokens()}) report their text at the modelled decode rate: the first
     * piece when prefill ends, then every {@value #STREAM_TICK_MS} ms of real time the share of the text that matches
     * the share of the sequence's decode time elapsed, the rest at its finish.
     */
    @Override
    public List<SequenceOutcome> run(BatchWork batch, TokenSink sink) throws InterruptedException {
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

        long startNanos = ManualClock.nanoTime(clock);
        double waveStartSeconds = 0;
        double tick = STREAM_TICK_MS / 1000.0 * timeScale; // simulated seconds between two reports
        for (List<Integer> members : waves) {
            List<SequenceShape> shapes = members.stream().map(i -> shape(sequences.get(i))).toList();
            BatchEstimate estimate = roofline.estimateBatch(shapes);
            double prefillEnd = waveStartSeconds + estimate.prefillSeconds();
            sleepUntil(startNanos, prefillEnd);
            long firstTokenAt = clock.millis();
            String[][] texts = new String[members.size()][];
            int[] sent = new int[members.size()];
            boolean streams = false;
            for (int k = 0; k < members.size(); k++) {
                SequenceWork s = sequences.get(members.get(k));
                texts[k] = text(s, batch.instance());
                streams |= s.streamTokens();
            }
            double[] finish = new double[members.size()];
            for (int k = 0; k < members.size(); k++) {
                finish[k] = waveStartSeconds + estimate.finishSeconds().get(k);
            }
            if (streams) {
                report(sink, sequences, members, texts, sent, finish, prefillEnd, prefillEnd);
            }
            Integer[] order = new Integer[members.size()];
            Arrays.setAll(order, k -> k);
            Arrays.sort(order, Comparator.comparingDouble(k -> finish[k]));
            double next = prefillEnd;
            for (int k : order) {
                while (streams && next + tick < finish[k]) {
                    next += tick;
                    sleepUntil(startNanos, next);
                    report(sink, sequences, members, texts, sent, finish, prefillEnd, next);
                }
                sleepUntil(startNanos, finish[k]);
                int index = members.get(k);
                SequenceWork s = sequences.get(index);
                if (s.streamTokens() && sent[k] < texts[k][0].length()) {
                    sink.tokens(s.jobId(), texts[k][0].substring(sent[k]));
                    sent[k] = texts[k][0].length();
                }
                outcomes[index] = new SequenceOutcome.Completed(s.jobId(), texts[k][0], texts[k][1], s.promptTokens(),
                        s.maxTokens(), s.cachedPrefixTokens(), firstTokenAt, clock.millis());
            }
            waveStartSeconds += estimate.totalSeconds();
        }
        return List.of(outcomes);
    }

    /** Real time between two text reports of a streamed sequence. */
    static final long STREAM_TICK_MS = 25;

    /** Reports, for each streamed sequence of the wave not yet finished, the text its decode progress at {@code at} covers. */
    private static void report(TokenSink sink, List<SequenceWork> sequences, List<Integer> members, String[][] texts,
            int[] sent, double[] finish, double prefillEnd, double at) {
        for (int k = 0; k < members.size(); k++) {
            SequenceWork s = sequences.get(members.get(k));
            if (!s.streamTokens() || at >= finish[k]) {
                continue;
            }
            String text = texts[k][0];
            double decode = finish[k] - prefillEnd;
            double share = decode <= 0 ? 1 : Math.max((at - prefillEnd) / decode, 1.0 / s.maxTokens());
            // at least one character with the first token, so the caller's time to first token is the modelled one
            int upTo = Math.max(Math.min(1, text.length()),
                    (int) Math.min(text.length(), Math.floor(text.length() * Math.min(1, share))));
            if (upTo > sent[k]) {
                sink.tokens(s.jobId(), text.substring(sent[k], upTo));
                sent[k] = upTo;
            }
        }
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
        long remaining = target - ManualClock.nanoTime(clock);
        if (remaining > 0) {
            ManualClock.sleepNanos(clock, remaining);
        }
    }

    /**
     * @return the sequence's text and finish reason: {@code length}, or {@code stop} when the text holds one of the
     *         request's {@code stop} strings (cut before it)
     */
    private String[] text(SequenceWork s, int instance) {
        String text = "[simulated " + roofline.model().name() + " on " + roofline.chips() + " × "
                + roofline.chip().name() + ", instance " + instance + "] " + s.maxTokens()
                + " simulated tokens for job " + s.jobId() + " (prompt " + s.promptTokens() + " tokens, "
                + s.cachedPrefixTokens() + " from cache).";
        int cut = -1;
        for (String stop : stopStrings(s.optionsJson())) {
            int at = stop.isEmpty() ? -1 : text.indexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        return cut < 0 ? new String[] {text, "length"} : new String[] {text.substring(0, cut), "stop"};
    }

    /** Parameters this backend honours besides the basic ones (others are refused at submit). */
    public static final java.util.Set<String> HONOURED_OPTIONS = java.util.Set.of("stop", "seed", "max_completion_tokens");

    private static List<String> stopStrings(String optionsJson) {
        if (optionsJson == null) {
            return List.of();
        }
        Object stop = new io.vertx.core.json.JsonObject(optionsJson).getValue("stop");
        if (stop instanceof String one) {
            return List.of(one);
        }
        List<String> out = new ArrayList<>();
        if (stop instanceof io.vertx.core.json.JsonArray many) {
            many.forEach(o -> {
                if (o instanceof String str) {
                    out.add(str);
                }
            });
        }
        return out;
    }

    /** @return e.g. {@code "simulated roofline: 4 × Huawei Ascend 910B, deepseek-r1 in BF16, time scale 60×"} */
    @Override
    public String describe() {
        List<String> assumed = roofline.unpublishedFigures();
        return "simulated roofline: " + roofline.describe() + ", time scale " + timeScale + "×"
                + (assumed.isEmpty() ? "" : "; figures not published: " + String.join("; ", assumed));
    }
}
