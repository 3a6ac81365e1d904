package io.inferq.ingress.view;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.EntryView;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.Usage;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against a real loopback Hazelcast member, and a client of it (the external-cluster mode). */
class HazelcastJobViewTest {
    static final Duration RETENTION = Duration.ofHours(24);
    static HazelcastInstance member;
    static HazelcastInstance client;
    static HazelcastJobView view;
    static IMap<String, JobViewEntry> jobs;

    @BeforeAll
    static void start() {
        member = TestMembers.newMember();
        client = TestMembers.newClient(member);
        view = new HazelcastJobView(member, RETENTION);
        jobs = member.getMap(HazelcastJobView.JOBS_MAP);
    }

    @AfterAll
    static void stop() {
        client.shutdown();
        member.shutdown();
    }

    static String tenant() {
        return "t-" + UUID.randomUUID();
    }

    static String jobId() {
        return "job_" + UUID.randomUUID().toString().replace("-", "");
    }

    static JobEvent queued(String id, String tenant, long at) {
        Map<String, Long> times = new HashMap<>();
        times.put("queued", at);
        return JobEvent.newBuilder().setJobId(id).setTenant(tenant).setModel("deepseek-v3").setStatus(JobStatusCode.QUEUED)
                .setAtMs(at).setStateTimes(times).setPromptTokens(12).setMaxTokens(34).setRequestHash("ab".repeat(32)).build();
    }

    static JobEvent dispatched(JobEvent prev, long at) {
        return JobEvent.newBuilder(JobSnapshots.advance(prev, JobStatus.DISPATCHED, at)).setPoolId("pool-a").setChip("tpu")
                .setDispatchId("d-1").build();
    }

    static JobEvent to(JobEvent prev, JobStatus s, long at) {
        return JobSnapshots.advance(prev, s, at);
    }

    static JobStatus statusOf(String id) {
        return JobStatus.fromWire(view.get(id).getStatus());
    }

    static List<JobStatus> statuses(List<JobEvent> events) {
        return events.stream().map(e -> JobStatus.fromWire(e.getStatus())).toList();
    }

    @Test
    void mergesEventsInOrderAndGetReturnsEveryFieldOfTheJob() {
        String t = tenant();
        String id = jobId();
        JobEvent q = JobEvent.newBuilder(queued(id, t, 1_000)).setMetadata(Map.of("k", "v")).setWebhookUrl("https://example.com/h")
                .setWebhookEvents(List.of("queued", "running")).setDeadlineAtMs(9_000L).setCorrelationId("corr-1").build();
        JobEvent d = dispatched(q, 1_100);
        // a worker's event without the pool fields: the view keeps those the dispatcher set
        JobEvent r = JobEvent.newBuilder(to(d, JobStatus.RUNNING, 1_200)).setPoolId(null).setChip(null).setDispatchId(null).build();
        JobEvent s = JobEvent.newBuilder(to(r, JobStatus.SUCCEEDED, 1_300)).setOutput("hello").setFinishReason("stop")
                .setUsage(new Usage(12, 1, 0)).build();

        assertThat(view.apply(q)).isTrue();
        assertThat(statusOf(id)).isEqualTo(JobStatus.QUEUED);
        assertThat(view.activeJobs(t)).isEqualTo(1);
        assertThat(view.apply(d)).isTrue();
        assertThat(view.apply(r)).isTrue();
        assertThat(view.get(id).getPoolId()).isEqualTo("pool-a");
        assertThat(view.apply(s)).isTrue();

        JobEvent got = view.get(id);
        JobEvent expected = JobEvent.newBuilder(s).setPoolId("pool-a").setChip("tpu").setDispatchId("d-1")
                .setRequestHash(null) // kept only with an idempotency key (see below)
                .build();
        assertThat(got).isEqualTo(expected);
        assertThat(got.getStateTimes()).containsOnlyKeys("queued", "dispatched", "running", "succeeded");
        assertThat(view.activeJobs(t)).isZero();
        assertThat(jobs.get(id).createdAtMs()).isEqualTo(1_000);
        assertThat(jobs.get(id).jobStatus()).isEqualTo(JobStatus.SUCCEEDED);
        // the stored snapshot repeats neither the job id nor the tenant
        assertThat(new String(jobs.get(id).snapshot(), java.nio.charset.StandardCharsets.ISO_8859_1)).doesNotContain(id).doesNotContain(t);
    }

    @Test
    void keepsTheRequestHashAndIndexesTheIdempotencyKeyOfTheCreatingEvent() {
        String t = tenant();
        String id = jobId();
        JobEvent q = JobEvent.newBuilder(queued(id, t, 1_000)).setIdempotencyKey("idem-1").setRequestHash("cd".repeat(32)).build();
        view.apply(q);
        assertThat(view.get(id)).isEqualTo(q);
        JobView.IdempotencyRecord prev = view.reserve(t, "idem-1", jobId(), "other");
        assertThat(prev).isEqualTo(new JobView.IdempotencyRecord(id, "cd".repeat(32)));
        // a cancel built on the view's snapshot still carries it, so a replay after compaction indexes it again
        assertThat(JobSnapshots.advance(view.get(id), JobStatus.CANCELLED, 2_000).getRequestHash()).isEqualTo("cd".repeat(32));
    }

    /** Queued, dispatched (batch d-1) and running events of a new job, applied: all three change the view. */
    static List<JobEvent> runningJob(String id, String tenant) {
        JobEvent q = queued(id, tenant, 1_000);
        JobEvent d = dispatched(q, 1_100);
        JobEvent r = to(d, JobStatus.RUNNING, 1_200);
        assertThat(view.applyAll(List.of(q, d, r))).hasSize(3);
        return List.of(q, d, r);
    }

    @Test
    void staleAndDuplicateEventsChangeNothing() {
        String t = tenant();
        String id = jobId();
        List<JobEvent> lifecycle = runningJob(id, t);
        JobEvent d = lifecycle.get(1);
        JobEvent r = lifecycle.get(2);
        int version = (int) jobs.getEntryView(id).getVersion();

        assertThat(view.apply(r)).as("the same event again").isFalse();
        assertThat(view.apply(d)).as("running cannot go back to dispatched").isFalse();
        assertThat(view.applyAll(List.of(r, d, r))).isEmpty();
        assertThat(jobs.getEntryView(id).getVersion()).as("nothing written").isEqualTo(version);
        assertThat(statusOf(id)).isEqualTo(JobStatus.RUNNING);

        // the same status with a new timestamp only merges the timestamp; existing ones are never overwritten
        Map<String, Long> times = new HashMap<>(r.getStateTimes());
        times.put("first_token", 1_250L);
        times.put("running", 99_999L);
        assertThat(view.apply(JobEvent.newBuilder(r).setStateTimes(times).build())).isTrue();
        assertThat(view.get(id).getStateTimes()).containsEntry("first_token", 1_250L).containsEntry("running", 1_200L);
        assertThat(view.activeJobs(t)).isEqualTo(1);
    }

    @Test
    void onlyTheJobsCurrentBatchCanHandItBackToQueued() {
        String t = tenant();
        String id = jobId();
        List<JobEvent> lifecycle = runningJob(id, t);
        JobEvent q = lifecycle.get(0);
        JobEvent r = lifecycle.get(2);

        assertThat(view.apply(q)).as("the first queued event, replayed").isFalse();
        assertThat(view.apply(JobEvent.newBuilder(to(r, JobStatus.QUEUED, 1_300)).setDispatchId("d-0").build()))
                .as("a hand-back by an earlier batch").isFalse();
        assertThat(statusOf(id)).isEqualTo(JobStatus.RUNNING);

        assertThat(view.apply(to(r, JobStatus.QUEUED, 1_300))).as("a hand-back by the batch the job is in").isTrue();
        assertThat(statusOf(id)).isEqualTo(JobStatus.QUEUED);
        assertThat(view.activeJobs(t)).isEqualTo(1);
        JobEvent again = JobEvent.newBuilder(dispatched(view.get(id), 1_400)).setDispatchId("d-2").build();
        assertThat(view.applyAll(List.of(again, to(again, JobStatus.SUCCEEDED, 1_500)))).hasSize(2);
        assertThat(statusOf(id)).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(view.activeJobs(t)).isZero();
    }

    /**
     * The worker writes a job's outcome in its transaction, but its running event on another producer and the dispatcher
     * its dispatched event, so the outcome can reach the topic first (a batch run at once). Refusing it left the job
     * running for ever in the view while the live batch progress counted it finished, and the batch's output file
     * lacked its line.
     */
    @Test
    void anOutcomeThatOvertakesTheDispatchedAndRunningEventsIsRecordedAndTheLateOnesChangeNothing() {
        String t = tenant();
        String id = jobId();
        JobEvent q = queued(id, t, 1_000);
        JobEvent d = dispatched(q, 1_100);
        JobEvent r = to(d, JobStatus.RUNNING, 1_200);
        JobEvent s = JobEvent.newBuilder(to(r, JobStatus.SUCCEEDED, 1_300)).setOutput("hello").setUsage(new Usage(12, 1, 0)).build();
        assertThat(view.applyAll(List.of(q, s, d, r))).extracting(e -> JobStatus.fromWire(e.getStatus()))
                .containsExactly(JobStatus.QUEUED, JobStatus.SUCCEEDED);
        assertThat(statusOf(id)).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(view.get(id).getOutput()).isEqualTo("hello");
        assertThat(view.activeJobs(t)).isZero();

        // one by one (events of several poll batches) and a batch's window ending a line that is running
        String other = jobId();
        JobEvent q2 = queued(other, t, 2_000);
        JobEvent r2 = to(dispatched(q2, 2_100), JobStatus.RUNNING, 2_200);
        assertThat(view.apply(q2)).isTrue();
        assertThat(view.apply(r2)).isTrue();
        assertThat(view.apply(to(r2, JobStatus.EXPIRED, 2_300))).isTrue();
        assertThat(view.apply(to(r2, JobStatus.SUCCEEDED, 2_400))).as("the first outcome wins").isFalse();
        assertThat(statusOf(other)).isEqualTo(JobStatus.EXPIRED);
        assertThat(view.activeJobs(t)).isZero();
    }

    @Test
    void firstTerminalStateWinsWithinABatchAndAcrossBatches() {
        String t = tenant();
        String a = jobId();
        String b = jobId();
        JobEvent qa = queued(a, t, 1_000);
        JobEvent qb = queued(b, t, 1_000);
        JobEvent cancelledA = to(qa, JobStatus.CANCELLED, 1_100);
        JobEvent succeededA = to(to(dispatched(qa, 1_050), JobStatus.RUNNING, 1_060), JobStatus.SUCCEEDED, 1_200);
        List<JobEvent> changed = view.applyAll(List.of(qa, qb, cancelledA, succeededA));
        assertThat(changed).extracting(JobEvent::getJobId).containsExactly(a, b, a);
        assertThat(statusOf(a)).isEqualTo(JobStatus.CANCELLED);

        JobEvent failedB = to(qb, JobStatus.FAILED, 1_300);
        assertThat(view.apply(failedB)).isTrue();
        assertThat(view.apply(to(qb, JobStatus.EXPIRED, 1_400))).isFalse();
        assertThat(view.apply(qb)).as("a terminal job never goes back").isFalse();
        assertThat(statusOf(b)).isEqualTo(JobStatus.FAILED);
        assertThat(view.activeJobs(t)).isZero();
    }

    @Test
    void aBatchWritesEachJobOnceAndReportsEveryChangeInOrder() {
        String t = tenant();
        String a = jobId();
        String b = jobId();
        JobEvent qa = queued(a, t, 1_000);
        JobEvent da = dispatched(qa, 1_100);
        JobEvent ra = to(da, JobStatus.RUNNING, 1_200);
        JobEvent sa = to(ra, JobStatus.SUCCEEDED, 1_300);
        JobEvent qb = queued(b, t, 1_050);
        JobEvent db = dispatched(qb, 1_150);

        List<JobEvent> changed = view.applyAll(List.of(qa, qb, da, ra, ra, sa, db));

        assertThat(changed).extracting(JobEvent::getJobId).containsExactly(a, b, a, a, a, b);
        assertThat(statuses(changed)).containsExactly(JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.DISPATCHED, JobStatus.RUNNING,
                JobStatus.SUCCEEDED, JobStatus.DISPATCHED);
        // each reported snapshot is the job right after that change (what a webhook for that state must show)
        assertThat(changed.get(3).getStateTimes()).containsOnlyKeys("queued", "dispatched", "running");
        assertThat(changed.get(4)).isEqualTo(view.get(a));
        // one write per job: created with its final state, never updated
        assertThat(jobs.getEntryView(a).getVersion()).isZero();
        assertThat(jobs.getEntryView(b).getVersion()).isZero();
        assertThat(statusOf(b)).isEqualTo(JobStatus.DISPATCHED);
        assertThat(view.activeJobs(t)).isEqualTo(1);
    }

    @Test
    void terminalEntriesGetTheRetentionAsTtlAndUnfinishedOnesNone() {
        String t = tenant();
        String created = jobId();
        String replaced = jobId();
        String open = jobId();
        // replay after compaction: only the terminal event is left, so the entry is created terminal
        JobEvent q1 = queued(created, t, 1_000);
        view.apply(to(q1, JobStatus.SUCCEEDED, 1_100));
        JobEvent q2 = queued(replaced, t, 1_000);
        view.apply(q2);
        view.apply(to(q2, JobStatus.FAILED, 1_100));
        view.apply(queued(open, t, 1_000));

        for (String id : List.of(created, replaced)) {
            EntryView<String, JobViewEntry> e = jobs.getEntryView(id);
            assertThat(e.getTtl()).as(id).isEqualTo(RETENTION.toMillis());
            assertThat(e.getExpirationTime()).as(id).isBetween(System.currentTimeMillis() + RETENTION.toMillis() - 60_000,
                    System.currentTimeMillis() + RETENTION.toMillis() + 1_000);
        }
        assertThat(jobs.getEntryView(open).getExpirationTime()).isEqualTo(Long.MAX_VALUE);
        assertThat(view.activeJobs(t)).isEqualTo(1);
    }

    @Test
    void finishedJobsExpireAfterTheRetention() throws InterruptedException {
        HazelcastJobView shortLived = new HazelcastJobView(member, Duration.ofSeconds(1));
        String t = tenant();
        String id = jobId();
        JobEvent q = queued(id, t, 1_000);
        shortLived.applyAll(List.of(q));
        shortLived.applyAll(List.of(to(q, JobStatus.CANCELLED, 1_100)));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (shortLived.get(id) != null && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(shortLived.get(id)).isNull();
        assertThat(shortLived.activeJobs(t)).isZero();
    }

    /**
     * One job's events in a legal order, ending terminal or not; sometimes with a hand-back. (No losing second terminal
     * event here: a materialiser replaying old events concurrently can move a live job back to queued for a moment,
     * from where a losing terminal event would be legal; single-writer tests cover first-terminal-wins.)
     */
    static List<JobEvent> lifecycle(String id, String tenant, Random rnd, long at) {
        List<JobEvent> out = new ArrayList<>();
        JobEvent e = queued(id, tenant, at);
        out.add(e);
        int steps = rnd.nextInt(5);
        if (steps >= 1) {
            e = dispatched(e, ++at);
            out.add(e);
            if (rnd.nextInt(4) == 0) {
                e = to(e, JobStatus.QUEUED, ++at); // handed back
                out.add(e);
                e = dispatched(e, ++at);
                out.add(e);
            }
        }
        if (steps >= 2) {
            e = to(e, JobStatus.RUNNING, ++at);
            out.add(e);
        }
        if (steps >= 3) {
            JobStatus end = List.of(JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED).get(rnd.nextInt(3));
            out.add(to(e, end, ++at));
        }
        return out;
    }

    @Test
    void concurrentMaterialisersConvergeAndKeepTheActiveCountExact() throws Exception {
        String t = tenant();
        Random rnd = new Random(7);
        List<List<JobEvent>> perJob = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            perJob.add(lifecycle(jobId(), t, rnd, 10_000 + i));
        }
        // the topic's order: jobs interleaved, each job's events in order
        List<JobEvent> stream = new ArrayList<>();
        List<Integer> next = new ArrayList<>(Collections.nCopies(perJob.size(), 0));
        List<Integer> open = new ArrayList<>();
        for (int i = 0; i < perJob.size(); i++) {
            open.add(i);
        }
        while (!open.isEmpty()) {
            int k = rnd.nextInt(open.size());
            int j = open.get(k);
            stream.add(perJob.get(j).get(next.get(j)));
            next.set(j, next.get(j) + 1);
            if (next.get(j) == perJob.get(j).size()) {
                open.remove(k);
            }
        }
        // what a single materialiser ends with
        Map<String, JobEvent> expected = new LinkedHashMap<>();
        for (JobEvent e : stream) {
            JobEvent n = HazelcastJobView.step(expected.get(e.getJobId()), e);
            if (n != null) {
                expected.put(e.getJobId(), n);
            }
        }
        long expectedActive = expected.values().stream().filter(e -> !JobStatus.fromWire(e.getStatus()).isTerminal()).count();
        assertThat(expectedActive).isBetween(50L, 250L);

        // three materialisers (two on the member, one a client) apply the same stream in different batchings at once
        List<HazelcastJobView> views = List.of(view, new HazelcastJobView(member, RETENTION), new HazelcastJobView(client, RETENTION));
        int[] batchSizes = {1, 7, 50};
        Map<String, AtomicInteger> terminalReports = new ConcurrentHashMap<>();
        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int v = 0; v < 3; v++) {
                HazelcastJobView mv = views.get(v);
                int size = batchSizes[v];
                done.add(pool.submit(() -> {
                    go.await();
                    for (int i = 0; i < stream.size(); i += size) {
                        for (JobEvent c : mv.applyAll(stream.subList(i, Math.min(stream.size(), i + size)))) {
                            if (JobStatus.fromWire(c.getStatus()).isTerminal()) {
                                terminalReports.computeIfAbsent(c.getJobId(), k -> new AtomicInteger()).incrementAndGet();
                            }
                        }
                    }
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }

        for (Map.Entry<String, JobEvent> e : expected.entrySet()) {
            JobEvent got = view.get(e.getKey());
            assertThat(got.getStatus()).as(e.getKey()).isEqualTo(e.getValue().getStatus());
            assertThat(got.getStateTimes()).as(e.getKey()).isEqualTo(e.getValue().getStateTimes());
            boolean terminal = JobStatus.fromWire(e.getValue().getStatus()).isTerminal();
            assertThat(jobs.getEntryView(e.getKey()).getTtl()).as(e.getKey()).isEqualTo(terminal ? RETENTION.toMillis() : Long.MAX_VALUE);
            // a completion is reported by exactly one materialiser (one completed webhook, one claim)
            assertThat(terminalReports.containsKey(e.getKey()) ? terminalReports.get(e.getKey()).get() : 0).as(e.getKey())
                    .isEqualTo(terminal ? 1 : 0);
        }
        assertThat(view.activeJobs(t)).isEqualTo(expectedActive);
    }

    @Test
    void listsNewestFirstPageByPageWithAStatusFilterAndACursor() {
        String t = tenant();
        String other = tenant();
        List<JobEvent> all = new ArrayList<>();
        List<JobEvent> batch = new ArrayList<>();
        for (int i = 0; i < 5_000; i++) { // more than a list call fetches: the time window search is exercised
            JobEvent q = queued(jobId(), t, 1_000_000 + i / 3); // three jobs per millisecond: ties ordered by id
            JobEvent e = i % 10 == 0 ? dispatched(q, 2_000_000) : q;
            all.add(e);
            batch.add(e);
            if (i % 50 == 0) {
                batch.add(queued(jobId(), other, 1_000_000 + i / 3));
            }
            if (batch.size() >= 500) {
                view.applyAll(batch);
                batch.clear();
            }
        }
        view.applyAll(batch);
        Comparator<JobEvent> newestFirst = Comparator.<JobEvent>comparingLong(e -> e.getStateTimes().get("queued"))
                .thenComparing(JobEvent::getJobId).reversed();

        List<String> expected = all.stream().sorted(newestFirst).map(JobEvent::getJobId).toList();
        assertThat(pageThrough(t, null, 100)).isEqualTo(expected);

        List<String> expectedDispatched = all.stream().filter(e -> e.getStatus() == JobStatusCode.DISPATCHED).sorted(newestFirst)
                .map(JobEvent::getJobId).toList();
        assertThat(pageThrough(t, JobStatus.DISPATCHED, 37)).isEqualTo(expectedDispatched);

        // the cursor job changed status since the last page: the next page still follows it
        JobView.Page first = view.list(t, JobStatus.DISPATCHED, 10, null);
        JobEvent cursor = first.jobs().get(9);
        view.apply(to(cursor, JobStatus.RUNNING, 2_000_001));
        JobView.Page second = view.list(t, JobStatus.DISPATCHED, 10, cursor.getJobId());
        assertThat(second.jobs()).extracting(JobEvent::getJobId).isEqualTo(expectedDispatched.subList(10, 20));

        String unknown = jobId();
        assertThatThrownBy(() -> view.list(t, null, 10, unknown)).as("unknown cursor").isInstanceOf(JobView.UnknownCursor.class);
        assertThatThrownBy(() -> view.list(other, null, 10, expected.get(0))).as("another tenant's cursor")
                .isInstanceOf(JobView.UnknownCursor.class);
        assertThat(view.list(t, JobStatus.FAILED, 10, null)).isEqualTo(new JobView.Page(List.of(), false));
    }

    private static List<String> pageThrough(String tenant, JobStatus status, int limit) {
        List<String> ids = new ArrayList<>();
        String after = null;
        for (int guard = 0; guard < 1_000; guard++) {
            JobView.Page p = view.list(tenant, status, limit, after);
            p.jobs().forEach(j -> assertThat(j.getTenant()).isEqualTo(tenant));
            p.jobs().forEach(j -> ids.add(j.getJobId()));
            if (!p.hasMore()) {
                return ids;
            }
            assertThat(p.jobs()).hasSize(limit);
            after = p.jobs().get(p.jobs().size() - 1).getJobId();
        }
        throw new AssertionError("no last page");
    }
}
