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
     * @param firstTokenAtMs   wall-clock epoch ms of the first generated token
     * @param finishedAtMs     wall-clock epoch ms of the last one
     */
    record Completed(String jobId, String text, String finishReason, int promptTokens, int completionTokens,
            int cachedTokens, long firstTokenAtMs, long finishedAtMs) implements SequenceOutcome {
    }

    /** The sequence failed; {@code error} says whether trying again can help. */
    record Failed(String jobId, InferenceError error) implements SequenceOutcome {
    }
}
