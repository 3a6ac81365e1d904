package io.inferq.workers.chips;

import java.util.Objects;

/**
 * Size figures of one servable model.
 *
 * @param name             model name as served and as clients ask for it, e.g. {@code deepseek-r1}
 * @param displayName      human-readable name
 * @param totalParams      all parameters (every expert of an MoE model)
 * @param activeParams     parameters used per token (equal to total for a dense model)
 * @param layers           transformer layers holding KV cache
 * @param kvBytesPerToken  KV cache bytes per token over all layers, in BF16
 * @param weightPrecision  precision of the published checkpoint
 * @param maxContextTokens longest prompt + completion the model is served with
 * @param attention        attention kind, e.g. {@code MLA} or {@code GQA}, for information
 */
public record ModelProfile(String name, String displayName, long totalParams, long activeParams, int layers,
        long kvBytesPerToken, WeightPrecision weightPrecision, int maxContextTokens, String attention) {

    public ModelProfile {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("model name must not be blank");
        }
        displayName = displayName == null || displayName.isBlank() ? name : displayName;
        if (totalParams <= 0) {
            throw new IllegalArgumentException("model " + name + ": totalParams must be positive, was " + totalParams);
        }
        if (activeParams <= 0 || activeParams > totalParams) {
            throw new IllegalArgumentException("model " + name + ": activeParams must be in [1, totalParams], was "
                    + activeParams);
        }
        if (layers <= 0) {
            throw new IllegalArgumentException("model " + name + ": layers must be positive, was " + layers);
        }
        if (kvBytesPerToken <= 0) {
            throw new IllegalArgumentException("model " + name + ": kvBytesPerToken must be positive, was "
                    + kvBytesPerToken);
        }
        Objects.requireNonNull(weightPrecision, () -> "model " + name + ": weightPrecision must be set");
        if (maxContextTokens <= 0) {
            throw new IllegalArgumentException("model " + name + ": maxContextTokens must be positive, was "
                    + maxContextTokens);
        }
        attention = attention == null ? "" : attention;
    }

    /** @return whether only part of the parameters is used per token */
    public boolean isMixtureOfExperts() {
        return activeParams < totalParams;
    }
}
