package io.inferq.workers.runtime;

import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.avro.PromptBlocks;
import io.inferq.workers.backend.SequenceWork;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * How a worker uses the KV cache around prefill: before a batch runs it asks how many leading prompt
 * tokens are already cached; once a sequence's prompt has been prefilled (or, when the backend does not report that
 * moment, after the batch ran), it stores the new full blocks.
 *
 * <p>The lookups are called on the slot thread (may block on Hazelcast); {@link #stored} also from the backend's threads
 * (an engine thread, possibly holding its instance's lock), so it must be thread-safe and must not block. Failures must
 * be swallowed by the implementation and reported as a miss: losing the cache costs hits, never a job.
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

    /**
     * As {@link #cachedPrefixTokens(String, java.util.List, java.util.List)}, with the prompts' block hashes as the
     * dispatcher computed them (carried in the batch), so an implementation need not tokenise and hash the prompts
     * again. The default ignores them.
     *
     * @param carried the hashes of each sequence, or null when the batch carried none
     */
    default int[] cachedPrefixTokens(String poolId, java.util.List<String> tenants, java.util.List<SequenceWork> works,
            CarriedBlockHashes carried) {
        return cachedPrefixTokens(poolId, tenants, works);
    }

    /**
     * Block hashes computed upstream, one list per sequence.
     *
     * @param blockTokens tokens per block they were made with (an implementation hashing with another size ignores them)
     * @param bySequence  each sequence's chained block hashes, in the order of the works they go with
     */
    record CarriedBlockHashes(int blockTokens, List<List<Long>> bySequence) {
        public CarriedBlockHashes {
            bySequence = List.copyOf(bySequence);
        }

        /**
         * The hashes {@code batch} carries for {@code jobs} (a subset of its jobs, in any order), or null when it
         * carries none or they do not line up with its jobs.
         */
        public static CarriedBlockHashes of(PoolBatch batch, List<JobRequest> jobs) {
            PromptBlocks blocks = batch.getPromptBlocks();
            if (blocks == null || blocks.getHashesByJob().size() != batch.getJobs().size()) {
                return null;
            }
            Map<String, List<Long>> byId = new HashMap<>();
            for (int i = 0; i < batch.getJobs().size(); i++) {
                byId.put(batch.getJobs().get(i).getJobId(), blocks.getHashesByJob().get(i));
            }
            List<List<Long>> out = new ArrayList<>(jobs.size());
            for (JobRequest j : jobs) {
                List<Long> h = byId.get(j.getJobId());
                if (h == null) {
                    return null;
                }
                out.add(h);
            }
            return new CarriedBlockHashes(blocks.getBlockTokens(), out);
        }
    }

    /** @throws IllegalArgumentException unless {@code tenants} has one entry per sequence of {@code works} */
    static void requireOneTenantPerSequence(java.util.List<String> tenants, java.util.List<SequenceWork> works) {
        if (tenants.size() != works.size()) {
            throw new IllegalArgumentException("one tenant per sequence: " + tenants.size() + " tenants, " + works.size() + " sequences");
        }
    }

    /**
     * Records that the sequence's full prompt blocks were computed and are now cached. Any thread; must not block
     * (hand the write to an executor).
     */
    void stored(String poolId, String tenant, SequenceWork work);
}
