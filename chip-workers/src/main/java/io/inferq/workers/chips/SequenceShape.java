package io.inferq.workers.chips;

/**
 * The token counts of one sequence, as far as timing is concerned.
 *
 * @param promptTokens prompt length
 * @param cachedTokens leading prompt tokens whose KV is already present (not prefilled)
 * @param outputTokens tokens to generate, at least 1
 */
public record SequenceShape(int promptTokens, int cachedTokens, int outputTokens) {
    public SequenceShape {
        if (promptTokens < 0) {
            throw new IllegalArgumentException("promptTokens must not be negative, was " + promptTokens);
        }
        if (cachedTokens < 0 || cachedTokens > promptTokens) {
            throw new IllegalArgumentException("cachedTokens must be in [0, promptTokens=" + promptTokens + "], was "
                    + cachedTokens);
        }
        if (outputTokens < 1) {
            throw new IllegalArgumentException("outputTokens must be at least 1, was " + outputTokens);
        }
    }

    public int uncachedTokens() {
        return promptTokens - cachedTokens;
    }
}
