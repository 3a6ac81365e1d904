package io.inferq.server;

import io.inferq.dispatcher.ServiceTimeModel;

/** A pool's service times as the dispatcher sees them: the roofline's times divided by the pool's time scale. */
record ScaledServiceTime(ServiceTimeModel roofline, double timeScale) implements ServiceTimeModel {
    @Override
    public double prefillSeconds(int uncachedPromptTokens) {
        return roofline.prefillSeconds(uncachedPromptTokens) / timeScale;
    }

    @Override
    public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
        return roofline.decodeSeconds(batchSequences, outputTokens, contextTokens) / timeScale;
    }
}
