package io.inferq.workers.runtime;

import io.inferq.workers.backend.SequenceWork;

/**
 * How a worker uses the KV cache around prefill: before a batch runs it asks how many leading prompt
 * tokens are already cached; after it ran, it stores the new full blocks.
 *
 * <p>Called on the slot thread (may block on Hazelcast). Failures must be swallowed by the
 * implementation and reported as a miss: losing the cache costs hits, never a job.
 */
public interface PrefixCacheHook {
    /** No cache: nothing is ever cached. */
    PrefixCacheHook NONE = new PrefixCacheHook() {
        @Override
        public int cachedPrefixTokens(String poolId, String tenant, SequenceWork work) {
            return 0;
        }

        @Override
        public void stored(String poolId, String tenant, SequenceWork work) {
        }
    };

    /** @return leading prompt tokens available from the cache for this sequence on this pool */
    int cachedPrefixTokens(String poolId, String tenant, SequenceWork work);

    /**
     * {@link #cachedPrefixTokens} of a whole batch's sequences at once, so an implementation backed by a
     * shared cache can look them all up in one round trip.
     *
     * @param tenants the tenant of each sequence, in the order of {@code works}
     * @return the leading prompt tokens available for each sequence, in the order of {@code works}
     */
    default int[] cachedPrefixTokens(String poolId, java.util.List<String> tenants, java.util.List<SequenceWork> works) {
        requireOneTenantPerSequence(tenants, works);
        int[] out = new int[works.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = cachedPrefixTokens(poolId, tenants.get(i), works.get(i));
        }
        return out;
    }

    /** @throws IllegalArgumentException unless {@code tenants} has one entry per sequence of {@code works} */
    static void requireOneTenantPerSequence(java.util.List<String> tenants, java.util.List<SequenceWork> works) {
        if (tenants.size() != works.size()) {
            throw new IllegalArgumentException("one tenant per sequence: " + tenants.size() + " tenants, " + works.size() + " sequences");
        }
    }

    /** Records that the sequence's full prompt blocks were computed and are now cached. */
    void stored(String poolId, String tenant, SequenceWork work);
}
