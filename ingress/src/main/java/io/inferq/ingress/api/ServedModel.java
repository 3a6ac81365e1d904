package io.inferq.ingress.api;

import java.util.List;

/**
 * A model the fleet serves, as {@code GET /v1/models} lists it and validation checks it.
 *
 * @param id             model name clients ask for ({@code deepseek-r1})
 * @param ownedBy        publisher, e.g. {@code deepseek-ai}
 * @param contextTokens  longest prompt + output the model accepts
 * @param maxOutputTokens largest {@code max_tokens} accepted
 * @param maxPromptTokens longest prompt any pool serving it can prefill in one batch (the largest
 *                       {@code max-batch-tokens} among them); longer prompts are refused at submit
 * @param pools          pools that serve it, e.g. {@code h800-r1 (NVIDIA H800, simulated)}
 */
public record ServedModel(String id, String ownedBy, int contextTokens, int maxOutputTokens, int maxPromptTokens,
                          List<String> pools) implements io.inferq.job.request.ModelLimits {
    public ServedModel {
        pools = List.copyOf(pools);
    }
}
