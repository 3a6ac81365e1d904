package io.inferq.kvcache.trace;

import java.util.List;
import java.util.Objects;

/**
 * One request of a Mooncake-format trace. Immutable.
 *
 * @param timestampMs  arrival time in ms from the start of the trace
 * @param inputLength  prompt tokens
 * @param outputLength generated tokens
 * @param hashIds      chained prefix-block ids, one per (possibly partial) 512-token block of the prompt
 */
public record TraceRequest(long timestampMs, int inputLength, int outputLength, List<Long> hashIds) {

    public TraceRequest {
        hashIds = List.copyOf(Objects.requireNonNull(hashIds, "hashIds must not be null"));
        if (inputLength < 0 || outputLength < 0) {
            throw new IllegalArgumentException("lengths must not be negative");
        }
    }
}
