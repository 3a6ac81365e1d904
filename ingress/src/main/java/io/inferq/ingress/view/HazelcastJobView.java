package io.inferq.ingress.view;

import com.hazelcast.config.IndexType;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.crdt.pncounter.PNCounter;
import com.hazelcast.map.IMap;
import com.hazelcast.query.Predicate;
import com.hazelcast.query.Predicates;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.job.JobStatus;
import io.inferq.broker.serde.AvroSerde;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link JobView} in Hazelcast maps shared by every ingress process of the cluster.
 *
 * <p>Updates use compare-and-set ({@code replace(key, old, new)}), so several materialisers applying
 * the same events concurrently converge on the same entry. Active-job counts per tenant are
 * PN-counters changed only by the writer whose compare-and-set made the transition.
 *
 * <p>Blocking (network calls): never call from an event loop.
 */
public final class HazelcastJobView implements JobView {
    public static final String JOBS_MAP = "inferq.jobs";
    public static final String IDEMPOTENCY_MAP = "inferq.idempotency";

    private final HazelcastInstance hz;
    private final IMap<String, JobViewEntry> jobs;
    private final IMap<String, String> idempotency;
    private final AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
    private final java.time.Duration terminalRetention;

    /**
     * @param terminalRetention how long a finished job stays queryable; unfinished jobs stay until they
     *                          finish (the view is bounded by live jobs plus this window's finished ones)
     */
    public HazelcastJobView(HazelcastInstance hz, java.time.Duration terminalRetention) {
        this.hz = hz;
        this.terminalRetention = terminalRetention;
        this.jobs = hz.getMap(JOBS_MAP);
        this.idempotency = hz.getMap(IDEMPOTENCY_MAP);
        // one hash index (tenant) for listing; no sorted index: every index entry costs heap per job,
        // and a page is sorted in memory from the tenant's entries anyway
        jobs.addIndex(IndexType.HASH, "tenant");
    }

    @Override
    public JobEvent get(String jobId) {
        JobViewEntry e = jobs.get(jobId);
        return e == null ? null : serde.decode(e.snapshot());
    }

    @Override
    public boolean apply(JobEvent event) {
        String id = event.getJobId();
        JobStatus next = JobStatus.fromWire(event.getStatus());
        for (int attempt = 0; attempt < 100; attempt++) {
            JobViewEntry current = jobs.get(id);
            if (current == null) {
                JobViewEntry fresh = entry(event);
                if (jobs.putIfAbsent(id, fresh) == null) {
                    if (!next.isTerminal()) {
                        counter(event.getTenant()).incrementAndGet();
                    } else {
                        jobs.setTtl(id, terminalRetention.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                    }
                    indexIdempotency(event);
                    return true;
                }
                continue;
            }
            JobEvent prev = serde.decode(current.snapshot());
            JobStatus from = JobStatus.fromWire(prev.getStatus());
            JobEvent merged;
            if (from == next) {
                merged = mergeTimes(prev, event, prev);
                if (merged.getStateTimes().equals(prev.getStateTimes())) {
                    return false;
                }
            } else if (from.canMoveTo(next)) {
                merged = mergeTimes(prev, event, event);
            } else {
                return false; // illegal or stale (e.g. a second terminal state): first one wins
            }
            if (jobs.replace(id, current, entry(merged))) {
                if (!from.isTerminal() && next.isTerminal()) {
                    counter(event.getTenant()).decrementAndGet();
                    jobs.setTtl(id, terminalRetention.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                }
                return true;
            }
        }
        throw new IllegalStateException("job " + id + ": could not apply event after 100 concurrent updates");
    }

    private static JobEvent mergeTimes(JobEvent prev, JobEvent event, JobEvent base) {
        Map<String, Long> times = new HashMap<>(prev.getStateTimes());
        event.getStateTimes().forEach(times::putIfAbsent);
        JobEvent merged = JobEvent.newBuilder(base).setStateTimes(times).build();
        if (merged.getPoolId() == null) {
            merged.setPoolId(prev.getPoolId());
            merged.setChip(prev.getChip());
            merged.setDispatchId(prev.getDispatchId());
        }
        return merged;
    }

    private JobViewEntry entry(JobEvent e) {
        long created = e.getStateTimes().getOrDefault(JobStatus.QUEUED.apiName(), e.getAtMs());
        return new JobViewEntry(e.getJobId(), e.getTenant(), JobStatus.fromWire(e.getStatus()).apiName(), created,
                serde.encode(e));
    }

    private void indexIdempotency(JobEvent e) {
        if (e.getIdempotencyKey() != null) {
            idempotency.putIfAbsent(e.getTenant() + ":" + e.getIdempotencyKey(), e.getJobId() + "|" + e.getRequestHash());
        }
    }

    private PNCounter counter(String tenant) {
        return hz.getPNCounter("inferq.active." + tenant);
    }

    @Override
    public Page list(String tenant, JobStatus status, int limit, String after) {
        Predicate<String, JobViewEntry> p = Predicates.equal("tenant", tenant);
        if (status != null) {
            p = Predicates.and(p, Predicates.equal("status", status.apiName()));
        }
        Long cursorCreated = null;
        if (after != null) {
            JobViewEntry cursor = jobs.get(after);
            if (cursor == null || !cursor.tenant().equals(tenant)) {
                return new Page(List.of(), false);
            }
            cursorCreated = cursor.createdAtMs();
            p = Predicates.and(p, Predicates.lessEqual("createdAtMs", cursorCreated));
        }
        List<JobViewEntry> found = new ArrayList<>(jobs.values(p));
        found.sort(Comparator.comparingLong(JobViewEntry::createdAtMs).reversed().thenComparing(JobViewEntry::jobId,
                Comparator.reverseOrder()));
        List<JobEvent> page = new ArrayList<>();
        boolean passedCursor = after == null;
        boolean more = false;
        for (JobViewEntry e : found) {
            if (!passedCursor) {
                if (e.jobId().equals(after)) {
                    passedCursor = true;
                }
                continue;
            }
            if (page.size() == limit) {
                more = true;
                break;
            }
            page.add(serde.decode(e.snapshot()));
        }
        return new Page(page, more);
    }

    @Override
    public long activeJobs(String tenant) {
        return counter(tenant).get();
    }

    @Override
    public IdempotencyRecord reserve(String tenant, String key, String jobId, String requestHash) {
        String prev = idempotency.putIfAbsent(tenant + ":" + key, jobId + "|" + requestHash);
        if (prev == null) {
            return null;
        }
        int bar = prev.indexOf('|');
        return new IdempotencyRecord(prev.substring(0, bar), prev.substring(bar + 1));
    }

    @Override
    public void release(String tenant, String key, String jobId) {
        String k = tenant + ":" + key;
        String v = idempotency.get(k);
        if (v != null && v.startsWith(jobId + "|")) {
            idempotency.remove(k, v);
        }
    }
}
