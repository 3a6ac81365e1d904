package io.inferq.workers.runtime;

import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.backend.TokenSink;
import java.util.Map;
import java.util.Set;

/**
 * A batch's token sink: hands each piece of streamed text on, and stores a sequence's prompt blocks in the prefix cache
 * as soon as its engine has prefilled it ({@link TokenSink#prefilled}) rather than when the whole batch ends, as an
 * engine's own prefix cache holds a prompt from then on: a job of another batch that shares the prefix, arriving while
 * this batch still decodes, finds it. A sequence stored here is recorded in {@code stored}, so the batch's write does not
 * store it again; one whose backend never reports its prefill is stored by the write, as before.
 *
 * <p><b>Threading.</b> Called from the backend's threads (an engine thread, an HTTP event loop); {@code stored} must be a
 * concurrent set. {@link PrefixCacheHook#stored} hands the write to its own executor and swallows failures, so this never
 * blocks on the cache and a cache failure costs hits, never the job.
 */
final class PrefixStoringTokenSink implements TokenSink {
    private final TokenSink pieces;
    private final PrefixCacheHook prefixCache;
    private final String poolId;
    private final Map<String, SequenceWork> workByJob;
    private final Map<String, String> tenantByJob;
    private final Set<String> stored;

    /**
     * @param workByJob   the sequences the batch runs, by job id (what is stored: their prompts' blocks not yet cached)
     * @param tenantByJob the tenant of each, by job id
     * @param stored      receives the ids of the jobs stored here (a concurrent set)
     */
    PrefixStoringTokenSink(TokenSink pieces, PrefixCacheHook prefixCache, String poolId, Map<String, SequenceWork> workByJob,
                           Map<String, String> tenantByJob, Set<String> stored) {
        this.pieces = pieces;
        this.prefixCache = prefixCache;
        this.poolId = poolId;
        this.workByJob = Map.copyOf(workByJob);
        this.tenantByJob = Map.copyOf(tenantByJob);
        this.stored = stored;
    }

    @Override
    public void tokens(String jobId, String text) {
        pieces.tokens(jobId, text);
    }

    @Override
    public void prefilled(String jobId) {
        SequenceWork work = workByJob.get(jobId);
        String tenant = tenantByJob.get(jobId);
        if (work != null && tenant != null && stored.add(jobId)) {
            prefixCache.stored(poolId, tenant, work);
        }
    }
}
