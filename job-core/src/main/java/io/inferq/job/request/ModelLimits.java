package io.inferq.job.request;

/** What request validation checks about a model the fleet serves. */
public interface ModelLimits {
    /** The model name clients ask for ({@code deepseek-r1}). */
    String id();

    /** Longest prompt + output accepted. */
    int contextTokens();

    /** Largest {@code max_tokens} accepted; also the cap of the default. */
    int maxOutputTokens();
}
