package io.inferq.dispatcher;

/**
 * Estimated service time of one pool instance. The production implementation adapts chip-workers'
 * roofline model (the dispatcher may not depend on chip-workers, so the adapter lives in {@code server});
 * tests use simple linear models.
 *
 * <p>Implementations must be pure, cheap and thread-safe: the scheduler calls them many times per
 * decision on its own thread.
 */
public interface ServiceTimeModel {

    /**
     * The default of {@link #prefillChunkSeconds()}: an engine with chunked prefill (vLLM, SGLang; Sarathi-Serve's
     * rule) sizes its per-iteration token budget so a chunk takes about half the 100 ms time-per-output-token goal.
     * Mirrors chip-workers' {@code ContinuousBatchingEngine.Limits.CHUNK_SECONDS} (the dispatcher may not depend on
     * chip-workers).
     */
    double DEFAULT_PREFILL_CHUNK_SECONDS = 0.05;

    /**
     * Seconds of one engine iteration's prefill chunk, in this model's time: every such iteration also runs one decode
     * step of the sequences already decoding, so prefill advances a chunk per chunk + step of engine time (the
     * first-token prediction of deadline-aware batch sizing). A model whose times are scaled (a simulated pool's
     * {@code time-scale}) scales this too; a slower chip does not change it (the engine sizes its chunk by time).
     */
    default double prefillChunkSeconds() {
        return DEFAULT_PREFILL_CHUNK_SECONDS;
    }

    /**
     * {@code model} as a simulated pool at {@code timeScale} runs it: every time, the prefill chunk included, divided by
     * the scale (at 0.5 each engine iteration takes twice the wall time).
     *
     * @throws IllegalArgumentException if {@code timeScale} is not positive and finite
     */
    static ServiceTimeModel timeScaled(ServiceTimeModel model, double timeScale) {
        return new TimeScaledServiceTime(java.util.Objects.requireNonNull(model, "model must not be null"), timeScale);
    }

    /** Seconds to prefill {@code uncachedPromptTokens} prompt tokens of one batch (all sequences together). */
    double prefillSeconds(int uncachedPromptTokens);

    /**
     * Seconds to decode {@code outputTokens} steps for a batch of {@code batchSequences} sequences whose
     * KV context totals {@code contextTokens} tokens at the start of decoding.
     */
    double decodeSeconds(int batchSequences, int outputTokens, long contextTokens);
}
