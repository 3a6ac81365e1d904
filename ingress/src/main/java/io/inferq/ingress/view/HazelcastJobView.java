package io.inferq.ingress.view;

import com.hazelcast.aggregation.Aggregators;
import com.hazelcast.config.CacheDeserializedValues;
import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.crdt.pncounter.PNCounter;
import com.hazelcast.map.IMap;
import com.hazelcast.query.Predicate;
import com.hazelcast.query.Predicates;
import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import io.inferq.broker.serde.AvroSerde;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link JobView} in Hazelcast maps shared by every ingress process of the cluster.
 *
 * <p><b>Converging writers.</b> Updates use compare-and-set ({@code putIfAbsent}, {@code replace(key, old, new)}),
 * so several materialisers applying the same events concurrently converge on the same entry. A batch of events
 * ({@link #applyAll}) is read with one {@code getAll} (except jobs it starts with their first queued event: those
 * are written with {@code putIfAbsent} at once); each job's events of the batch are folded locally into one
 * write; a lost compare-and-set re-reads that job and folds again (events another writer already applied then
 * change nothing). Active-job counts per tenant are PN-counters changed only by the writer whose compare-and-set
 * made the transition, summed per tenant per batch. Terminal entries are written with (or, after a
 * {@code replace}, given) the terminal retention as TTL.
 *
 * <p><b>Small entries.</b> The view holds every unfinished job (a million queued jobs is a normal backlog), so an
 * entry is kept small: see {@link JobViewEntry}. The map has no index (an index costs about 90 bytes of heap per
 * entry): {@link #list} counts with built-in aggregations over the whole map to find a creation-time window holding
 * the page, then fetches only that window. Each count is a full scan (about half a second per million jobs on a
 * small machine); a page usually takes two (one count, one fetch), a first page or a sparse status filter a few
 * more, and never more memory than {@link #LIST_FETCH_CAP} entries.
 *
 * <p>Only built-in Hazelcast operations, predicates and aggregators: works as a client of an external cluster with
 * no inferq class deployed there. Blocking (network calls): never call from an event loop.
 */
public final class HazelcastJobView implements JobView {
    public static final String JOBS_MAP = "inferq.jobs";
    public static final String IDEMPOTENCY_MAP = "inferq.idempotency";
    /** a list call fetches about at most this many entries (when one millisecond holds more, that millisecond) */
    static final int LIST_FETCH_CAP = 2_000;
    private static final int MAX_ATTEMPTS = 100;
    private static final String TENANT = "tenant";
    private static final String STATUS = "status";
    private static final String CREATED = "createdAtMs";
    private static final String KEY = "__key";
    private static final Comparator<Map.Entry<String, JobViewEntry>> NEWEST_FIRST =
            Comparator.<Map.Entry<String, JobViewEntry>>comparingLong(e -> e.getValue().createdAtMs())
                    .thenComparing(Map.Entry::getKey).reversed();

    private static final Logger LOG = LoggerFactory.getLogger(HazelcastJobView.class);

    private final HazelcastInstance hz;
    private final IMap<String, JobViewEntry> jobs;
    private final IMap<String, String> idempotency;
    private final AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
    private final long terminalRetentionMs;
    /** per list (tenant and status filter): the time span that last held a page, the first guess for the next */
    private final Map<String, Double> spanHints = new ConcurrentHashMap<>();

    /**
     * @param terminalRetention how long a finished job stays queryable; unfinished jobs stay until they
     *                          finish (the view is bounded by live jobs plus this window's finished ones)
     */
    public HazelcastJobView(HazelcastInstance hz, Duration terminalRetention) {
        this.hz = hz;
        this.terminalRetentionMs = terminalRetention.toMillis();
        this.jobs = hz.getMap(JOBS_MAP);
        this.idempotency = hz.getMap(IDEMPOTENCY_MAP);
    }

    /**
     * The job map's settings for an embedded member: no per-entry statistics and no cached deserialized values
     * (each would cost heap per job; nothing reads them). An external cluster should configure the same.
     */
    public static MapConfig jobsMapConfig() {
        return new MapConfig(JOBS_MAP).setBackupCount(1).setPerEntryStatsEnabled(false)
                .setCacheDeserializedValues(CacheDeserializedValues.NEVER);
    }

    /** The idempotency map's settings for an embedded member: keys live 7 days. */
    public static MapConfig idempotencyMapConfig() {
        return new MapConfig(IDEMPOTENCY_MAP).setBackupCount(1).setTimeToLiveSeconds(7 * 24 * 3600)
                .setPerEntryStatsEnabled(false).setCacheDeserializedValues(CacheDeserializedValues.NEVER);
    }

    @Override
    public JobEvent get(String jobId) {
        JobViewEntry e = jobs.get(jobId);
        return e == null ? null : decode(jobId, e);
    }

    // ---- writes ------------------------------------------------------------------------------------------------

    private record Indexed(int index, JobEvent event) {
    }

    @Override
    public List<JobEvent> applyAll(List<JobEvent> events) {
        if (events.isEmpty()) {
            return List.of();
        }
        Map<String, List<Indexed>> byJob = new LinkedHashMap<>();
        for (int i = 0; i < events.size(); i++) {
            JobEvent e = events.get(i);
            byJob.computeIfAbsent(e.getJobId(), k -> new ArrayList<>(4)).add(new Indexed(i, e));
        }
        // a job the batch starts with its first queued event is almost always new: it is written with putIfAbsent
        // straight away (which returns the entry when there is one after all), so only other jobs are read first
        Set<String> toRead = new HashSet<>();
        byJob.forEach((id, evs) -> {
            if (!isFirstSubmission(evs.get(0).event())) {
                toRead.add(id);
            }
        });
        Map<String, JobViewEntry> current = toRead.isEmpty() ? Map.of() : jobs.getAll(toRead);
        JobEvent[] after = new JobEvent[events.size()];
        Map<String, Long> activeDelta = new HashMap<>();
        List<Indexed> notApplied = new ArrayList<>();
        RuntimeException firstFailure = null;
        for (Map.Entry<String, List<Indexed>> job : byJob.entrySet()) {
            try {
                write(job.getKey(), job.getValue(), current.get(job.getKey()), after, activeDelta);
            } catch (RuntimeException e) {
                LOG.warn("job {}: {} event(s) not applied to the view: {}", job.getKey(), job.getValue().size(), e.toString());
                notApplied.addAll(job.getValue());
                firstFailure = firstFailure == null ? e : firstFailure;
            }
        }
        activeDelta.forEach((tenant, d) -> {
            if (d != 0) {
                try {
                    counter(tenant).addAndGet(d);
                } catch (RuntimeException e) {
                    LOG.error("tenant {}: active-job count not changed by {}: {}", tenant, d, e.toString());
                }
            }
        });
        List<JobEvent> changed = new ArrayList<>();
        for (JobEvent e : after) {
            if (e != null) {
                changed.add(e);
            }
        }
        if (firstFailure != null) {
            notApplied.sort(java.util.Comparator.comparingInt(Indexed::index));
            throw new NotAllApplied(changed, notApplied.stream().map(Indexed::event).toList(), firstFailure);
        }
        return changed;
    }

    /** Folds one job's events onto its entry and writes the result with compare-and-set, re-reading on conflict. */
    private void write(String id, List<Indexed> events, JobViewEntry entry, JobEvent[] after, Map<String, Long> activeDelta) {
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            JobEvent start = entry == null ? null : decode(id, entry);
            JobEvent state = start;
            List<Indexed> changes = new ArrayList<>(events.size());
            for (Indexed x : events) {
                JobEvent next = step(state, x.event());
                if (next != null) {
                    state = withoutUnusedHash(next);
                    changes.add(new Indexed(x.index(), state));
                }
            }
            if (changes.isEmpty()) {
                return;
            }
            JobStatus to = status(state);
            JobViewEntry updated = entry(state);
            if (entry == null) {
                JobViewEntry existing = to.isTerminal()
                        ? jobs.putIfAbsent(id, updated, terminalRetentionMs, TimeUnit.MILLISECONDS)
                        : jobs.putIfAbsent(id, updated);
                if (existing != null) {
                    entry = existing;
                    continue;
                }
                // the write above is the change; what follows is best effort, so a failure here cannot make an event
                // applied again look like no change (and lose its count and its listeners' call)
                try {
                    indexIdempotency(events.get(0).event());
                } catch (RuntimeException e) {
                    LOG.warn("job {}: idempotency key not indexed: {}", id, e.toString());
                }
            } else {
                if (!jobs.replace(id, entry, updated)) {
                    entry = jobs.get(id);
                    continue;
                }
                if (to.isTerminal()) {
                    try {
                        jobs.setTtl(id, terminalRetentionMs, TimeUnit.MILLISECONDS);
                    } catch (RuntimeException e) {
                        LOG.warn("job {}: retention of the finished job not set: {}", id, e.toString());
                    }
                }
            }
            boolean wasActive = start != null && !status(start).isTerminal();
            int delta = (to.isTerminal() ? 0 : 1) - (wasActive ? 1 : 0);
            if (delta != 0) {
                activeDelta.merge(state.getTenant(), (long) delta, Long::sum);
            }
            for (Indexed c : changes) {
                after[c.index()] = c.event();
            }
            return;
        }
        throw new IllegalStateException("job " + id + ": could not apply event after " + MAX_ATTEMPTS + " concurrent updates");
    }

    private static boolean isFirstSubmission(JobEvent e) {
        return status(e) == JobStatus.QUEUED && e.getStateTimes().size() <= 1;
    }

    /**
     * One event on a job's snapshot: the state machine decides ({@link JobStatus#canBeFollowedBy}: first terminal state
     * wins, and an outcome that overtook the informational dispatched and running events is taken; the same status
     * again only merges timestamps). A move back to {@code queued} from {@code dispatched} or {@code running} is a
     * hand-back, and only the batch the job is in can hand it back: the event must carry that batch's dispatch id.
     * So a replayed first {@code queued} event (a materialiser reading the topic from the start over a live view,
     * or a Kafka job's intake event written again after a dispatcher restart), or a hand-back from an earlier
     * batch, does not move a dispatched or running job back.
     *
     * @return the new snapshot, or null when the event changes nothing (stale, duplicate or illegal)
     */
    static JobEvent step(JobEvent prev, JobEvent event) {
        if (prev == null) {
            return event;
        }
        JobStatus from = status(prev);
        JobStatus next = status(event);
        if (from == next) {
            JobEvent merged = mergeTimes(prev, event, prev);
            return merged.getStateTimes().equals(prev.getStateTimes()) ? null : merged;
        }
        if (next == JobStatus.QUEUED && (event.getDispatchId() == null || !event.getDispatchId().equals(prev.getDispatchId()))) {
            return null; // not a hand-back by the job's current batch: stale
        }
        if (from.canBeFollowedBy(next)) {
            return mergeTimes(prev, event, event);
        }
        return null; // illegal or stale (e.g. a second terminal state): first one wins
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

    private static JobStatus status(JobEvent e) {
        return JobStatus.fromWire(e.getStatus());
    }

    /** The request hash serves only idempotency keys: without one, the view (and what listeners see) leaves it out. */
    private static JobEvent withoutUnusedHash(JobEvent e) {
        if (e.getIdempotencyKey() != null || e.getRequestHash() == null) {
            return e;
        }
        JobEvent copy = shallowCopy(e);
        copy.setRequestHash(null);
        return copy;
    }

    private static JobEvent shallowCopy(JobEvent e) {
        JobEvent copy = new JobEvent();
        for (int i = 0; i < JobEvent.SCHEMA$.getFields().size(); i++) {
            copy.put(i, e.get(i));
        }
        return copy;
    }

    private JobViewEntry entry(JobEvent e) {
        long created = e.getStateTimes().getOrDefault(JobStatus.QUEUED.apiName(), e.getAtMs());
        // without what the key and the entry hold
        JobEvent stored = shallowCopy(withoutUnusedHash(e));
        stored.setJobId("");
        stored.setTenant("");
        return new JobViewEntry(e.getTenant(), JobViewEntry.code(status(e)), created, serde.encode(stored));
    }

    private JobEvent decode(String jobId, JobViewEntry entry) {
        JobEvent e = serde.decode(entry.snapshot());
        e.setJobId(jobId);
        e.setTenant(entry.tenant());
        return e;
    }

    private void indexIdempotency(JobEvent e) {
        if (e.getIdempotencyKey() != null) {
            idempotency.putIfAbsent(e.getTenant() + ":" + e.getIdempotencyKey(), e.getJobId() + "|" + e.getRequestHash());
        }
    }

    private PNCounter counter(String tenant) {
        return hz.getPNCounter("inferq.active." + tenant);
    }

    // ---- queries -----------------------------------------------------------------------------------------------

    @Override
    public Page list(String tenant, JobStatus status, int limit, String after) {
        Predicate<String, JobViewEntry> p = Predicates.equal(TENANT, tenant);
        if (status != null) {
            p = Predicates.and(p, Predicates.equal(STATUS, JobViewEntry.code(status)));
        }
        long top;
        if (after == null) {
            Long newest = jobs.aggregate(Aggregators.longMax(CREATED), p);
            if (newest == null || newest == Long.MIN_VALUE) { // no matching entry
                return new Page(List.of(), false);
            }
            top = newest;
        } else {
            JobViewEntry cursor = jobs.get(after);
            if (cursor == null || !cursor.tenant().equals(tenant)) {
                throw new UnknownCursor(after);
            }
            top = cursor.createdAtMs();
            // strictly after the cursor in list order (newest first, then job id descending); the cursor itself
            // need not match the status filter any more
            p = Predicates.and(p, Predicates.or(Predicates.lessThan(CREATED, top),
                    Predicates.and(Predicates.equal(CREATED, top), Predicates.lessThan(KEY, after))));
        }
        long oldest = windowStart(p, tenant + "|" + status, top, limit + 1);
        List<Map.Entry<String, JobViewEntry>> found = new ArrayList<>(jobs.entrySet(window(p, oldest)));
        found.sort(NEWEST_FIRST);
        List<JobEvent> page = new ArrayList<>(Math.min(limit, found.size()));
        for (int i = 0; i < found.size() && i < limit; i++) {
            page.add(decode(found.get(i).getKey(), found.get(i).getValue()));
        }
        return new Page(page, found.size() > limit);
    }

    /** The entries matching {@code p} created at or after {@code oldest}; the cheap time test first. */
    private static Predicate<String, JobViewEntry> window(Predicate<String, JobViewEntry> p, long oldest) {
        return oldest == Long.MIN_VALUE ? p : Predicates.and(Predicates.greaterEqual(CREATED, oldest), p);
    }

    /**
     * The start of a creation-time window ending at {@code top} (the newest matching entry, or the cursor) that holds at least {@code need} of the matching
     * entries (or all of them) and, where the data allows, at most {@link #LIST_FETCH_CAP}: found with counts only (no
     * entry leaves the members), starting from the span that held the previous page of the same list, so paging
     * through a long list costs one count and one fetch per page.
     *
     * @return {@link Long#MIN_VALUE} for "no lower bound"
     */
    private long windowStart(Predicate<String, JobViewEntry> p, String listKey, long top, int need) {
        Double hint = spanHints.get(listKey);
        long total = -1;
        if (hint == null) { // a first look at this list: a short one (or a sparse status) is fetched whole
            total = jobs.aggregate(Aggregators.count(), p);
            if (total <= LIST_FETCH_CAP) {
                return Long.MIN_VALUE;
            }
        }
        double span = hint == null ? 60_000.0 : hint;
        double tooNarrow = 0; // a span known to hold fewer than need
        double tooWide = Double.POSITIVE_INFINITY; // a span known to hold more than the cap
        long best = Long.MIN_VALUE;
        long bestCount = Long.MAX_VALUE;
        for (int i = 0; i < 16; i++) {
            long start = top - (long) Math.min(Math.ceil(span), 1e15) + 1; // 1e15 ms: beyond any job, no overflow
            long count = jobs.aggregate(Aggregators.count(), window(p, start));
            if (count >= need && count < bestCount) {
                best = start;
                bestCount = count;
            }
            if (count >= need && count <= LIST_FETCH_CAP) {
                spanHints.put(listKey, span);
                return start;
            }
            double guess;
            if (count < need) {
                if (total < 0) {
                    total = jobs.aggregate(Aggregators.count(), p);
                    if (total <= LIST_FETCH_CAP) {
                        return Long.MIN_VALUE;
                    }
                }
                tooNarrow = span;
                guess = span * Math.min(64, 2.0 * need / Math.max(1, count));
            } else {
                tooWide = span;
                if (span <= 1) {
                    break; // one millisecond holds more than the cap: fetch it
                }
                guess = Math.max(1, span * 2.0 * need / count);
            }
            span = guess > tooNarrow && guess < tooWide ? guess : Math.sqrt(Math.max(1, tooNarrow) * tooWide);
        }
        return best;
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
