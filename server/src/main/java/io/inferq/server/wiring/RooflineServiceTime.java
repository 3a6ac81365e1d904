package io.inferq.server.wiring;

import io.inferq.dispatcher.ServiceTimeModel;
import io.inferq.workers.chips.RooflineModel;

/**
 * Chip-workers' {@link RooflineModel} as the dispatcher's {@link ServiceTimeModel}.
 * The dispatcher may not import chip-workers, so the adapter lives in {@code server}.
 * Decode: a roofline step costs {@code a + b × context}, and the batch's context
 * grows by one token per sequence per step, so {@code out − 1} steps cost
 * {@code (out−1)(a + b·ctx) + b·n·(out−1)·out/2} (all sequences assumed to run all steps: an upper bound).
 */
public final class RooflineServiceTime implements ServiceTimeModel {

    private final RooflineModel roofline;
    private final double stepBase;
    private final double stepPerContextToken;

    public RooflineServiceTime(RooflineModel roofline) {
        this.roofline = roofline;
        this.stepBase = roofline.decodeStepSeconds(0);
        this.stepPerContextToken = roofline.decodeStepSeconds(1_000_000) / 1_000_000.0 - stepBase / 1_000_000.0;
    }

    @Override
    public double prefillSeconds(int uncachedPromptTokens) {
        return roofline.prefillSeconds(Math.max(0, uncachedPromptTokens));
    }

    @Override
    public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
        long steps = Math.max(0, outputTokens - 1L);
        return steps * (stepBase + stepPerContextToken * contextTokens)
                + stepPerContextToken * batchSequences * steps * (steps + 1) / 2.0;
    }
}
