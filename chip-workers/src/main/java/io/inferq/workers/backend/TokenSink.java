package io.inferq.workers.backend;

/**
 * Receives the text of a streamed sequence ({@link SequenceWork#streamTokens()}) as the backend generates it, in order.
 * The pieces of one sequence concatenate to a prefix of its final text (the final {@link SequenceOutcome.Completed}
 * text is what counts; the pieces are a best-effort preview of it).
 *
 * <p><b>Threading.</b> Called from the backend's threads (a slot thread, an HTTP event loop): an implementation must be
 * thread-safe and must not block.
 */
@FunctionalInterface
public interface TokenSink {
    /** Discards everything. */
    TokenSink NONE = (jobId, text) -> { };

    /** @param text the next piece of {@code jobId}'s generated text (not empty) */
    void tokens(String jobId, String text);

    /**
     * {@code jobId}'s prompt has been prefilled (its first token came): its KV cache now exists on the engine, streamed
     * or not. A backend that sees the moment calls this at most once per sequence run; one that does not (a
     * non-streamed engine response arrives whole) never calls it. The default does nothing.
     */
    default void prefilled(String jobId) {
    }
}
