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

    /** Seconds to prefill {@code uncachedPromptTokens} prompt tokens of one batch (all sequences together). */
    double prefillSeconds(int uncachedPromptTokens);

    /**
     * Seconds to decode {@code outputTokens} steps for a batch of {@code batchSequences} sequences whose
     * KV context totals {@code contextTokens} tokens at the start of decoding.
     */
    double decodeSeconds(int batchSequences, int outputTokens, long contextTokens);
}
