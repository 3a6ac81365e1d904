package io.inferq.workers.backend;

import java.util.List;

/**
 * One job's inference request as a backend sees it.
 *
 * @param jobId              job id
 * @param model              model name as the client asked for it
 * @param messages           chat messages
 * @param promptTokens       prompt length in tokens
 * @param maxTokens          most tokens to generate
 * @param temperature        sampling temperature, or null for the engine default
 * @param cachedPrefixTokens leading prompt tokens whose KV blocks are already available (not prefilled again)
 */
public record SequenceWork(String jobId, String model, List<Message> messages, int promptTokens, int maxTokens,
        Double temperature, int cachedPrefixTokens) {
    public SequenceWork {
        messages = List.copyOf(messages);
        if (promptTokens < 0 || maxTokens < 1 || cachedPrefixTokens < 0 || cachedPrefixTokens > promptTokens) {
            throw new IllegalArgumentException("job " + jobId + ": inconsistent token counts (prompt " + promptTokens
                    + ", max " + maxTokens + ", cached " + cachedPrefixTokens + ")");
        }
    }

    /** One chat message. */
    public record Message(String role, String content) {
    }
}
