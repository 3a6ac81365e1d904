package io.inferq.server;

import io.inferq.dispatcher.ServiceTimeModel;

/**
 * A pool's service times as the dispatcher sees them: the roofline's times, and its engine's prefill chunk, divided by
 * the pool's time scale (a simulated pool at time-scale 0.5 runs every engine iteration in twice the wall time).
 */
record ScaledServiceTime(ServiceTimeModel roofline, double timeScale) implements ServiceTimeModel {
    @Override
    public double prefillSeconds(int uncachedPromptTokens) {
        return roofline.prefillSeconds(uncachedPromptTokens) / timeScale;
    }

    @Override
    public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
        return roofline.decodeSeconds(batchSequences, outputTokens, contextTokens) / timeScale;
    }

    @Override
    public double prefillChunkSeconds() {
        return roofline.prefillChunkSeconds() / timeScale;
    }
}
