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
 * @param optionsJson        further OpenAI chat-completions parameters to pass to the engine (a JSON object: tools,
 *                           tool_choice, response_format, stop, seed, top_p, ...), or null
 * @param streamTokens       whether the caller streams: the backend reports text as it is generated ({@link TokenSink})
 */
public record SequenceWork(String jobId, String model, List<Message> messages, int promptTokens, int maxTokens,
        Double temperature, int cachedPrefixTokens, String optionsJson, boolean streamTokens) {

    /** A sequence with no further parameters, not streamed. */
    public SequenceWork(String jobId, String model, List<Message> messages, int promptTokens, int maxTokens,
            Double temperature, int cachedPrefixTokens) {
        this(jobId, model, messages, promptTokens, maxTokens, temperature, cachedPrefixTokens, null, false);
    }

    public SequenceWork {
        messages = List.copyOf(messages);
        if (promptTokens < 0 || maxTokens < 1 || cachedPrefixTokens < 0 || cachedPrefixTokens > promptTokens) {
            throw new IllegalArgumentException("job " + jobId + ": inconsistent token counts (prompt " + promptTokens
                    + ", max " + maxTokens + ", cached " + cachedPrefixTokens + ")");
        }
    }

    /**
     * One chat message.
     *
     * @param toolCallsJson an assistant message's {@code tool_calls} array as JSON, or null
     * @param toolCallId    a tool message's {@code tool_call_id}, or null
     * @param name          the participant name, or null
     */
    public record Message(String role, String content, String toolCallsJson, String toolCallId, String name) {
        public Message(String role, String content) {
            this(role, content, null, null, null);
        }
    }
}
