package io.inferq.workers.chips;

/**
 * How much a published accelerator figure can be trusted. The simulator reports every figure it used
 * that is not {@link #PUBLISHED}, so a capacity plan says which of its inputs are guesses.
 */
enum FigureStatus {
    /** From a vendor datasheet or product page. */
    PUBLISHED,
    /** Circulates in secondary sources, but no primary source was found. */
    UNCONFIRMED,
    /** An analyst or press estimate. */
    ESTIMATED,
    /** Not disclosed anywhere: the value is our own documented assumption (see the figure's note). */
    ASSUMED
}
