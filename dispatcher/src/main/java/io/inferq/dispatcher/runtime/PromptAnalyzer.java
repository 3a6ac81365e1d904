package io.inferq.dispatcher.runtime;

import io.inferq.broker.avro.JobRequest;
import java.util.List;

/**
 * Turns a request's prompt into what the scheduler routes on: its token count and the chained hashes
 * of its full prefix blocks. Called on the dispatcher's worker context (CPU-bound work is fine there,
 * network calls are not). Must be thread-safe.
 */
public interface PromptAnalyzer {

    /** What the scheduler needs to know about a prompt. */
    record PromptShape(int promptTokens, List<Long> blockHashes) {
        public PromptShape {
            blockHashes = List.copyOf(blockHashes);
        }
    }

    /** Uses the intake's estimate and no prefix hashes: prefix-blind routing. */
    PromptAnalyzer ESTIMATE_ONLY = r -> new PromptShape(Math.max(1, r.getPromptTokens()), List.of());

    PromptShape analyze(JobRequest request);
}
