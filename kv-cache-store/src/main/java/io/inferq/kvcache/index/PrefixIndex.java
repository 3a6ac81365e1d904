package io.inferq.kvcache.index;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Block hash → holders (worker, pool). Workers report what their local tier stores and evicts; the router
 * asks, per worker, for the longest run of leading blocks of a request that the worker holds.
 *
 * <p>The index is advisory: it may lag the tiers (updates are not atomic with the tier's own change, and a
 * bounded index forgets entries), so a positive answer is a routing hint, never a promise; the store is
 * the authority when the worker reads.
 *
 * <p><b>Threading:</b> implementations are thread-safe. The Hazelcast implementation makes blocking
 * remote calls: never call it on an event-loop thread — use a worker/blocking executor and hand the
 * result back to the event loop.
 *
 * <p><b>Failures:</b> implementations never throw because the backing store is unavailable; updates are
 * then dropped and lookups answer "nothing held" (a lost cache hit, never a failed job).
 */
public interface PrefixIndex {

    /** Records that {@code holder} now holds each of {@code blockHashes}. Idempotent. */
    void recordStored(BlockHolder holder, Collection<Long> blockHashes);

    /** Records that {@code holder} no longer holds each of {@code blockHashes}. Idempotent. */
    void recordEvicted(BlockHolder holder, Collection<Long> blockHashes);

    /**
     * For each worker that holds at least block 0 of {@code blockHashes}, the number of leading blocks it
     * holds without a gap. Workers holding nothing of the prefix are absent.
     *
     * @param blockHashes chained block hashes of a request, in order
     * @return workerId → match; empty if nothing is held or the index is unavailable
     */
    Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes);

    /** The best {@link #longestPrefixByWorker} result per pool: poolId → leading blocks. */
    default Map<String, Integer> longestPrefixByPool(List<Long> blockHashes) {
        Map<String, Integer> byPool = new HashMap<>();
        for (PrefixMatch m : longestPrefixByWorker(blockHashes).values()) {
            byPool.merge(m.holder().poolId(), m.leadingBlocks(), Math::max);
        }
        return byPool;
    }
}
