package io.inferq.dispatcher;

import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.job.JobLane;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Decides the {@link EnginePriority} of each batch the scheduler dispatches, for engines that batch continuously with
 * priority scheduling (the simulated engine; vLLM with {@code --scheduling-policy priority}):
 * <ul>
 *   <li>a batch-lane batch: {@link EnginePriority#BATCH} — it fills what interactive work leaves and is preempted first;</li>
 *   <li>an interactive batch whose main tenant (most tokens in it) would, with it, still hold no more than its weighted
 *       share of the model's in-flight interactive batches among the tenants holding some: {@link EnginePriority#HIGH}
 *       — an under-served tenant's sequences join the running batch ahead of a flooding tenant's (and may preempt
 *       them) instead of queueing behind them in the engine;</li>
 *   <li>any other interactive batch (a tenant at or above its share, or the only tenant): {@link EnginePriority#NORMAL}.</li>
 * </ul>
 * With fair sharing off ({@link FairnessConfig#oldestFirst()}) interactive batches are all {@link EnginePriority#NORMAL}.
 * Weights are the fair-sharing weights ({@link FairnessConfig#weightOf}). Counts are per model; a batch counts until
 * {@link #finished}. Not thread-safe: owned by the scheduler.
 */
final class EnginePriorities {
    private final Supplier<FairnessConfig> fairness;
    /** Per model: in-flight interactive batches per main tenant. */
    private final Map<String, Map<String, Integer>> inFlight = new HashMap<>();
    /** In-flight interactive batch → {model, tenant}. */
    private final Map<String, String[]> owners = new HashMap<>();

    /** @param fairness the scheduler's fair sharing (weights; with fair sharing off no batch is {@link EnginePriority#HIGH}) */
    EnginePriorities(Supplier<FairnessConfig> fairness) {
        this.fairness = Objects.requireNonNull(fairness, "fairness");
    }

    private double weightOf(String tenant) {
        return fairness.get().weightOf(tenant);
    }

    /** {@code plan} with its engine priority; counts it in flight. */
    BatchPlan assign(BatchPlan plan) {
        QueuedJob first = plan.jobs().get(0);
        if (first.lane() == JobLane.BATCH) {
            return plan.withEnginePriority(EnginePriority.BATCH);
        }
        String main = QueuedJob.mainTenant(plan.jobs());
        Map<String, Integer> held = inFlight.computeIfAbsent(first.model(), m -> new HashMap<>());
        double weights = weightOf(main);
        int total = 1;
        boolean others = false;
        for (Map.Entry<String, Integer> e : held.entrySet()) {
            total += e.getValue();
            if (!e.getKey().equals(main)) {
                weights += weightOf(e.getKey());
                others = true;
            }
        }
        int mine = held.getOrDefault(main, 0) + 1;
        double share = total * weightOf(main) / weights;
        EnginePriority p = fairness.get().enabled() && others && mine <= share ? EnginePriority.HIGH : EnginePriority.NORMAL;
        held.merge(main, 1, Integer::sum);
        owners.put(plan.batchId(), new String[] {first.model(), main});
        return plan.withEnginePriority(p);
    }

    /** The batch left its pool (idempotent; unknown ids are ignored). */
    void finished(String batchId) {
        String[] owner = owners.remove(batchId);
        if (owner != null) {
            Map<String, Integer> held = inFlight.get(owner[0]);
            held.computeIfPresent(owner[1], (t, n) -> n <= 1 ? null : n - 1);
        }
    }
}
