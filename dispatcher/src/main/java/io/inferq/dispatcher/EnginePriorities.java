package io.inferq.dispatcher;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.InFlightWork;
import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Decides the {@link EnginePriority} of each batch the scheduler dispatches, for engines that batch continuously with
 * priority scheduling (the simulated engine; vLLM with {@code --scheduling-policy priority}):
 * <ul>
 *   <li>a batch-lane batch: {@link EnginePriority#BATCH} — it fills what interactive work leaves and is preempted first;</li>
 *   <li>an interactive batch whose main tenant (most tokens in it) would, with it, still hold no more than its weighted
 *       share of the model's in-flight interactive <em>work</em> (prompt + output budget tokens) among the tenants
 *       holding some ({@link InFlightWork#belowShare}): {@link EnginePriority#HIGH} — an under-served tenant's sequences
 *       join the running batch ahead of a flooding tenant's (and may preempt them) instead of queueing behind them in
 *       the engine;</li>
 *   <li>any other interactive batch (a tenant at or above its share, or the only tenant): {@link EnginePriority#NORMAL}.</li>
 * </ul>
 * The share is counted in work, not in batches: in a continuous-batching engine a light tenant's one-job batches take
 * little of it however many there are, and a flooding tenant's few full batches most of it. With fair sharing off
 * ({@link FairnessConfig#oldestFirst()}) interactive batches are all {@link EnginePriority#NORMAL}. Weights are the
 * fair-sharing weights ({@link FairnessConfig#weightOf}). Counts are per model; a batch counts until {@link #finished}.
 * Not thread-safe: owned by the scheduler.
 */
final class EnginePriorities {
    private final FairnessConfig fairness;
    private final InFlightWork work;

    /** With a book of in-flight work of its own. */
    EnginePriorities(FairnessConfig fairness) {
        this(fairness, new InFlightWork(fairness));
    }

    /**
     * @param fairness the scheduler's fair sharing (weights; with fair sharing off no batch is {@link EnginePriority#HIGH})
     * @param work     the book of interactive work in flight this class keeps (others may read it)
     */
    EnginePriorities(FairnessConfig fairness, InFlightWork work) {
        this.fairness = Objects.requireNonNull(fairness, "fairness");
        this.work = Objects.requireNonNull(work, "work");
    }

    /** {@code plan} with its engine priority; counts an interactive batch's work in flight. */
    BatchPlan assign(BatchPlan plan) {
        QueuedJob first = plan.jobs().get(0);
        if (first.lane() == JobLane.BATCH) {
            return plan.withEnginePriority(EnginePriority.BATCH);
        }
        String main = QueuedJob.mainTenant(plan.jobs());
        Map<String, Long> tokens = new HashMap<>();
        for (QueuedJob j : plan.jobs()) {
            tokens.merge(j.tenant(), j.quotaTokens(), Long::sum);
        }
        EnginePriority p = fairness.enabled() && work.belowShare(first.model(), main, tokens.get(main))
                ? EnginePriority.HIGH : EnginePriority.NORMAL;
        work.dispatched(plan.batchId(), first.model(), tokens);
        return plan.withEnginePriority(p);
    }

    /** The batch left its pool (idempotent; unknown ids are ignored). */
    void finished(String batchId) {
        work.finished(batchId);
    }
}
