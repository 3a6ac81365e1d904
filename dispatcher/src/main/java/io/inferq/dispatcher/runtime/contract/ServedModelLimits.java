package io.inferq.dispatcher.runtime.contract;

import java.util.Objects;

/**
 * What the request contract checks about a model the fleet serves — the same figures the HTTP API checks.
 *
 * @param id              model name ({@code deepseek-r1})
 * @param contextTokens   longest prompt + output accepted
 * @param maxOutputTokens largest {@code max_tokens} accepted; also the cap of the default
 */
public record ServedModelLimits(String id, int contextTokens, int maxOutputTokens) implements io.inferq.job.request.ModelLimits {
    public ServedModelLimits {
        Objects.requireNonNull(id, "model id must not be null");
        if (contextTokens < 1 || maxOutputTokens < 1) {
            throw new IllegalArgumentException("model " + id + ": context and max output tokens must be positive");
        }
    }
}
