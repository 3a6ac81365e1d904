package io.inferq.dispatcher;

import java.util.List;
import java.util.Map;

/**
 * Tells the router how many leading prefix blocks of a prompt each pool already holds in its KV cache.
 * Backed by kv-cache-store's prefix index (wired in {@code server}).
 *
 * <p><b>Threading:</b> called on the scheduler's thread (an event loop in production), so it must not
 * block: answer from a local, possibly stale snapshot. A stale answer only costs a cache hit.
 */
@FunctionalInterface
public interface PrefixLocator {

    /**
     * @param blockHashes chained prefix-block hashes of a prompt, in order
     * @return poolId → number of leading blocks (from block 0, without a gap) cached there; pools holding
     *         nothing may be absent
     */
    Map<String, Integer> cachedLeadingBlocksByPool(List<Long> blockHashes);

    /**
     * For locators that know what each engine instance holds (vLLM KV events): leading blocks of the prompt cached
     * on each instance of {@code poolId}, indexed by instance; an empty array when unknown (the default). Same
     * threading contract as {@link #cachedLeadingBlocksByPool}.
     */
    default int[] cachedLeadingBlocksByInstance(String poolId, List<Long> blockHashes) {
        return new int[0];
    }

    /** Knows nothing: every pool holds nothing. Routing is then prefix-blind. */
    PrefixLocator NONE = hashes -> Map.of();
}
