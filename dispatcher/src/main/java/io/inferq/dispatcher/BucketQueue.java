package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Jobs of one (lane, model, bucket), in enqueue order: one group of the {@link DispatchScheduler}'s central queue,
 * with the orders the scheduler serves groups and jobs in. Not thread-safe: confined to the scheduler's thread.
 */
final class BucketQueue {

    record GroupKey(JobLane lane, String model, int bucket) {
    }

    static final Comparator<GroupKey> GROUP_ORDER = Comparator.comparing(GroupKey::lane)
            .thenComparing(GroupKey::model).thenComparingInt(GroupKey::bucket);

    /** A queued job with its enqueue sequence number (fair sharing only). */
    record Entry(QueuedJob job, long seq) {
    }

    /** Order of one tenant's jobs: earliest deadline first (none last), then enqueue time, then enqueue order. */
    static final Comparator<Entry> TENANT_ORDER = Comparator
            .comparing((Entry e) -> e.job().deadlineAtMs(), Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparingLong(e -> e.job().enqueuedAtMs()).thenComparingLong(Entry::seq);
    /** {@link #TENANT_ORDER} without the enqueue sequence: equal deadline and enqueue time tie. */
    static final Comparator<Entry> URGENCY_ORDER = Comparator
            .comparing((Entry e) -> e.job().deadlineAtMs(), Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparingLong(e -> e.job().enqueuedAtMs());

    final GroupKey key;
    final LinkedHashMap<String, QueuedJob> jobs = new LinkedHashMap<>();
    /** Prefix-affinity batch forming only: how often each queued job was passed over. */
    final Map<String, Integer> skips = new HashMap<>();
    /** Fair sharing only: the group's jobs per tenant, in {@link #TENANT_ORDER}. */
    final Map<String, TreeSet<Entry>> byTenant = new HashMap<>();
    /** Fair sharing only: enqueue sequence number of each job. */
    final Map<String, Long> seqOf = new HashMap<>();
    long promptTokens;

    BucketQueue(GroupKey key) {
        this.key = key;
    }

    QueuedJob head() {
        return jobs.values().iterator().next();
    }
}
