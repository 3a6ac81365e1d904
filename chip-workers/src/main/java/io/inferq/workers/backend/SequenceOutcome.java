package io.inferq.workers.backend;

/** What became of one sequence of a batch. */
public sealed interface SequenceOutcome {
    String jobId();

    /**
     * @param text             generated text
     * @param finishReason     {@code stop} or {@code length}
     * @param promptTokens     prompt tokens
     * @param completionTokens generated tokens
     * @param cachedTokens     prompt tokens served from the KV cache
     * @param firstTokenAtMs   wall-clock epoch ms of the first generated token, or {@link #UNKNOWN_FIRST_TOKEN} when the
     *                         engine's answer did not show it (a non-streamed response arrives whole: its time is the
     *                         last token's, and the dispatcher would take it for a prefill)
     * @param finishedAtMs     wall-clock epoch ms of the last one
     * @param toolCallsJson    the engine's {@code tool_calls} array as JSON, or null
     * @param logprobsJson     the engine's {@code choices[0].logprobs} object as JSON, or null
     */
    record Completed(String jobId, String text, String finishReason, int promptTokens, int completionTokens,
            int cachedTokens, long firstTokenAtMs, long finishedAtMs, String toolCallsJson, String logprobsJson)
            implements SequenceOutcome {
        /** {@link #firstTokenAtMs()} when the first token's time is not known. */
        public static final long UNKNOWN_FIRST_TOKEN = -1;

        public Completed(String jobId, String text, String finishReason, int promptTokens, int completionTokens,
                int cachedTokens, long firstTokenAtMs, long finishedAtMs) {
            this(jobId, text, finishReason, promptTokens, completionTokens, cachedTokens, firstTokenAtMs, finishedAtMs,
                    null, null);
        }
    }

    /** The sequence failed; {@code error} says whether trying again can help. */
    record Failed(String jobId, InferenceError error) implements SequenceOutcome {
    }
}
