package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A job waiting in the dispatcher's central queue. Immutable; validates itself.
 *
 * @param jobId             unique job id
 * @param tenant            tenant that owns the job (quota key)
 * @param model             model the job needs; only pools serving it are candidates
 * @param lane              interactive or batch lane
 * @param promptTokens      prompt length in tokens, &ge; 1
 * @param maxTokens         output budget in tokens, &ge; 1 (the scheduler's estimate of decode length)
 * @param enqueuedAtMs      when the job entered the queue (its wait is measured from here)
 * @param deadlineAtMs      latest time the job may still be dispatched, or {@code null} for none
 * @param prefixBlockHashes chained prefix-block hashes of the prompt (may be empty: no prefix routing)
 */
public record QueuedJob(String jobId, String tenant, String model, JobLane lane,
                        int promptTokens, int maxTokens, long enqueuedAtMs, Long deadlineAtMs,
                        List<Long> prefixBlockHashes) {

    public QueuedJob {
        Objects.requireNonNull(jobId, "jobId must not be null");
        Objects.requireNonNull(tenant, "tenant must not be null");
        Objects.requireNonNull(model, "model must not be null");
        Objects.requireNonNull(lane, "lane must not be null");
        if (promptTokens < 1) {
            throw new IllegalArgumentException("promptTokens must be at least 1, was " + promptTokens);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be at least 1, was " + maxTokens);
        }
        prefixBlockHashes = prefixBlockHashes == null ? List.of() : List.copyOf(prefixBlockHashes);
    }

    /** Tokens this job charges against its tenant's queued-token quota: prompt plus output budget. */
    public long quotaTokens() {
        return (long) promptTokens + maxTokens;
    }

    /**
     * The tenant a batch of these jobs counts for: the one with most {@link #quotaTokens} in it (the first to reach the
     * highest sum on a tie); null for no jobs.
     */
    static String mainTenant(List<QueuedJob> jobs) {
        Map<String, Long> tokensOf = new HashMap<>();
        String main = null;
        for (QueuedJob j : jobs) {
            long t = tokensOf.merge(j.tenant(), j.quotaTokens(), Long::sum);
            if (main == null || t > tokensOf.get(main)) {
                main = j.tenant();
            }
        }
        return main;
    }
}
