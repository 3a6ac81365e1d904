package io.inferq.loadtests.policy;

import java.util.List;

/**
 * One recorded request.
 *
 * @param arrivalMs    arrival, ms from the trace start
 * @param inputTokens  prompt tokens, &ge; 1
 * @param outputTokens generated tokens, &ge; 1
 * @param blockHashes  chained prefix-block hashes (Mooncake: 512-token blocks); empty when the trace has none
 */
public record TraceRequest(long arrivalMs, int inputTokens, int outputTokens, List<Long> blockHashes) {
    public TraceRequest {
        blockHashes = List.copyOf(blockHashes);
    }
}
