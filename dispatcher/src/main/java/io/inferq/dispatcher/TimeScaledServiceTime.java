package io.inferq.dispatcher;

/**
 * {@link ServiceTimeModel#timeScaled}: a model's times, its prefill chunk included, divided by a time scale. Pure and
 * thread-safe as its model is.
 */
record TimeScaledServiceTime(ServiceTimeModel model, double timeScale) implements ServiceTimeModel {

    TimeScaledServiceTime {
        if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
            throw new IllegalArgumentException("timeScale must be positive and finite, was " + timeScale);
        }
    }

    @Override
    public double prefillSeconds(int uncachedPromptTokens) {
        return model.prefillSeconds(uncachedPromptTokens) / timeScale;
    }

    @Override
    public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
        return model.decodeSeconds(batchSequences, outputTokens, contextTokens) / timeScale;
    }

    @Override
    public double prefillChunkSeconds() {
        return model.prefillChunkSeconds() / timeScale;
    }
}
