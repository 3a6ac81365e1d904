package io.inferq.kvcache.store;

import java.util.List;
import java.util.Objects;

/**
 * The result of {@link KvBlockStore#readPrefix}: the payloads of the leading blocks that were read and
 * verified, and how many came from each tier.
 *
 * @param payloads     payload of block 0, 1, … of the run (callers must not modify the arrays)
 * @param localBlocks  blocks served by the local tier
 * @param sharedBlocks blocks served by the shared tier (the ones whose transfer costs network time)
 * @param sharedBytes  bytes fetched from the shared tier
 */
public record PrefixRead(List<byte[]> payloads, int localBlocks, int sharedBlocks, long sharedBytes) {

    public PrefixRead {
        payloads = List.copyOf(Objects.requireNonNull(payloads, "payloads must not be null"));
        if (payloads.size() != localBlocks + sharedBlocks) {
            throw new IllegalArgumentException("payloads must match localBlocks + sharedBlocks");
        }
    }

    /** Length of the reusable prefix in blocks. */
    public int blocks() {
        return payloads.size();
    }
}
