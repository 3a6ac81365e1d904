package io.inferq.workers.chips;

import java.util.List;

/**
 * Predicted timeline of one batch on one instance, in seconds from the moment it starts.
 *
 * @param prefillSeconds      time to prefill every sequence's uncached prompt; every sequence's first token
 *                            appears then
 * @param decodeSteps         decode steps run (the longest sequence's output minus the token prefill produced)
 * @param finishSeconds       per sequence, in input order, when its last token appears
 * @param totalSeconds        when the last sequence finishes
 */
public record BatchEstimate(double prefillSeconds, int decodeSteps, List<Double> finishSeconds,
        double totalSeconds) {
    public BatchEstimate {
        finishSeconds = List.copyOf(finishSeconds);
    }
}
