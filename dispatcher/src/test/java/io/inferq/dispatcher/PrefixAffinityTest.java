package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobLane;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Prefix-affinity batch forming: which jobs a pool's batch takes when cached prefixes are known. */
class PrefixAffinityTest {

    private static final DispatchConfig CFG = Fixtures.config().withPrefix(100, 1.0);

    /** Block hash 1 is cached on pool a, 2 on pool b, anything else nowhere. */
    private static final PrefixLocator ONE_ON_A_TWO_ON_B = hashes -> {
        if (hashes.isEmpty()) {
            return Map.of();
        }
        long first = hashes.get(0);
        return first == 1L ? Map.of("a", hashes.size()) : first == 2L ? Map.of("b", hashes.size()) : Map.of();
    };

    private static QueuedJob job(String id, int prompt, long at, Long... hashes) {
        return new QueuedJob(id, "t", "m", INTERACTIVE, prompt, 10, at, null, List.of(hashes));
    }

    private static List<PoolProfile> twins(int maxSeqs) {
        return List.of(Fixtures.pool("a", "m", 1, 1000, maxSeqs, Fixtures.linear(1000, 0.001)),
                Fixtures.pool("b", "m", 1, 1000, maxSeqs, Fixtures.linear(1000, 0.001)));
    }

    private static Map<String, List<String>> jobsByPool(List<BatchPlan> plans) {
        Map<String, List<String>> out = new HashMap<>();
        for (BatchPlan p : plans) {
            out.computeIfAbsent(p.poolId(), k -> new ArrayList<>())
                    .addAll(p.jobs().stream().map(QueuedJob::jobId).toList());
        }
        return out;
    }

    @Test
    void eachPoolTakesTheJobsWhosePrefixItHolds() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        DispatchScheduler s = new DispatchScheduler(CFG, twins(2), RoutingPolicies.estimatedCompletion(),
                ONE_ON_A_TWO_ON_B, registry);
        s.enqueue(job("x1", 150, 0, 1L));
        s.enqueue(job("y1", 150, 1, 2L));
        s.enqueue(job("x2", 150, 2, 1L));
        s.enqueue(job("y2", 150, 3, 2L));
        Map<String, List<String>> byPool = jobsByPool(s.formBatches(5));
        assertThat(byPool.get("a")).containsExactly("x1", "x2");
        assertThat(byPool.get("b")).containsExactly("y1", "y2");
        assertThat(s.queuedJobs()).isZero();
        // a's batch passed y1 over for x2; b's batch (y1, y2) was the queue order of what was left
        assertThat(registry.get("inferq.dispatcher.batch.prefix.affinity").tag("pool", "a").counter().count())
                .isEqualTo(1.0);
        assertThat(registry.get("inferq.dispatcher.batch.prefix.affinity").tag("pool", "b").counter().count())
                .isZero();
    }

    @Test
    void aPoolsLargerBatchIsFilledWithItsOwnPrefixesNotQueueOrder() {
        // a takes 3 sequences, b only 1: the comparison batch has one job, but a's extra seats go to its prefixes
        List<PoolProfile> pools = List.of(Fixtures.pool("a", "m", 1, 1000, 3, Fixtures.linear(1000, 0.001)),
                Fixtures.pool("b", "m", 1, 1000, 1, Fixtures.linear(1000, 0.001)));
        DispatchScheduler s = new DispatchScheduler(CFG, pools, RoutingPolicies.estimatedCompletion(),
                ONE_ON_A_TWO_ON_B);
        s.enqueue(job("x1", 150, 0, 1L));
        s.enqueue(job("n1", 150, 1, 9L));
        s.enqueue(job("y1", 150, 2, 2L));
        s.enqueue(job("x2", 150, 3, 1L));
        s.enqueue(job("x3", 150, 4, 1L));
        Map<String, List<String>> byPool = jobsByPool(s.formBatches(5));
        assertThat(byPool.get("a")).containsExactly("x1", "x2", "x3");
        assertThat(byPool.get("b")).containsExactly("n1");
        assertThat(s.isQueued("y1")).isTrue();
    }

    @Test
    void theHeadJobIsAlwaysInTheBatchEvenWithoutACachedPrefix() {
        DispatchScheduler s = new DispatchScheduler(CFG, List.of(twins(2).get(0)), RoutingPolicies.estimatedCompletion(),
                ONE_ON_A_TWO_ON_B);
        s.enqueue(job("cold", 150, 0, 9L));
        s.enqueue(job("cold2", 150, 1, 9L));
        s.enqueue(job("hot", 150, 2, 1L));
        List<BatchPlan> plans = s.formBatches(5);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).jobs()).extracting(QueuedJob::jobId).containsExactly("cold", "hot");
    }

    @Test
    void aJobIsPassedOverAtMostMaxSkipsTimes() {
        DispatchScheduler s = new DispatchScheduler(CFG, List.of(twins(2).get(0)), RoutingPolicies.estimatedCompletion(),
                ONE_ON_A_TWO_ON_B);
        int cold = DispatchScheduler.MAX_AFFINITY_SKIPS + 2;
        long t = 0;
        for (int i = 0; i < cold; i++) {
            s.enqueue(job("c" + i, 150, t++, 9L));
        }
        for (int i = 0; i < 20; i++) {
            s.enqueue(job("h" + i, 150, t++, 1L));
        }
        List<List<String>> batches = new ArrayList<>();
        for (int round = 0; round <= DispatchScheduler.MAX_AFFINITY_SKIPS; round++) {
            List<BatchPlan> plans = s.formBatches(100 + round);
            assertThat(plans).hasSize(1);
            batches.add(plans.get(0).jobs().stream().map(QueuedJob::jobId).toList());
            s.batchFinished("a", plans.get(0).batchId(), 100 + round);
        }
        // c0 is taken at once as head, with h0; c1..c(K) become heads in turn, each passed over once more
        for (int i = 0; i < DispatchScheduler.MAX_AFFINITY_SKIPS; i++) {
            assertThat(batches.get(i)).containsExactly("c" + i, "h" + i);
        }
        // the last cold job has now been passed over K times: it goes in queue order, ahead of hot h(K)
        int k = DispatchScheduler.MAX_AFFINITY_SKIPS;
        assertThat(batches.get(k)).containsExactly("c" + k, "c" + (k + 1));
    }

    @Test
    void prefixOffAndNoLocatorFormBatchesInQueueOrder() {
        for (DispatchScheduler s : List.of(
                new DispatchScheduler(CFG.withPrefix(100, 0.0), twins(2), RoutingPolicies.estimatedCompletion(),
                        ONE_ON_A_TWO_ON_B),
                new DispatchScheduler(CFG, twins(2), RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE))) {
            s.enqueue(job("x1", 150, 0, 1L));
            s.enqueue(job("y1", 150, 1, 2L));
            s.enqueue(job("x2", 150, 2, 1L));
            s.enqueue(job("y2", 150, 3, 2L));
            List<BatchPlan> plans = s.formBatches(5);
            assertThat(plans).hasSize(2);
            assertThat(plans.get(0).jobs()).extracting(QueuedJob::jobId).containsExactly("x1", "y1");
            assertThat(plans.get(1).jobs()).extracting(QueuedJob::jobId).containsExactly("x2", "y2");
        }
    }

    /**
     * Prefix-off is bit-for-bit the scheduler before prefix-affinity forming: a seeded random workload over a
     * mixed fleet gives the same batches (pool, jobs, order) as the scheduler of commit 542e850 did
     * ({@link #GOLDEN_PREFIX_OFF}, recorded with that build; ect's re-recorded when the ledger stopped booking a batch on
     * an instance whose every batch stream was busy while another had a free one — round-robin's and least-loaded's
     * did not change).
     */
    @Test
    void prefixOffMatchesTheRecordedQueueOrderScheduler() {
        for (String policy : List.of("ect", "round-robin", "least-loaded")) {
            // recorded before headroom: fully work-conserving (headroom 0) is that scheduler
            assertThat(replay(CFG.withPrefix(100, 0.0).withHeadroom(0, 0), ONE_ON_A_TWO_ON_B, policy))
                    .as(policy + ", weight 0").isEqualTo(GOLDEN_PREFIX_OFF.get(policy));
            assertThat(replay(CFG.withHeadroom(0, 0), PrefixLocator.NONE, policy)).as(policy + ", no locator")
                    .isEqualTo(GOLDEN_PREFIX_OFF.get(policy));
        }
    }

    static final Map<String, Integer> GOLDEN_PREFIX_OFF = Map.of("ect", 177069161, "round-robin", 608093172,
            "least-loaded", -1525650227);

    /** A seeded workload; returns a hash of every batch's pool and job ids, in dispatch order. */
    static int replay(DispatchConfig cfg, PrefixLocator locator, String policy) {
        List<PoolProfile> pools = List.of(Fixtures.pool("a", "m", 2, 4000, 8, Fixtures.linear(10_000, 0.01)),
                Fixtures.pool("b", "m", 1, 2000, 3, Fixtures.linear(2_000, 0.05)),
                Fixtures.pool("c", "m", 1, 8000, 16, Fixtures.linear(5_000, 0.02)));
        // the golden hashes were recorded before idle instances skipped the max wait
        DispatchScheduler s = new DispatchScheduler(cfg.withMaxInFlightBatchesPerInstance(2).withDispatchToIdleInstances(false), pools,
                RoutingPolicies.byName(policy, 7), locator);
        SplittableRandom r = new SplittableRandom(11);
        List<BatchPlan> inFlight = new ArrayList<>();
        StringBuilder log = new StringBuilder();
        long now = 0;
        for (int step = 0; step < 3000; step++) {
            now += r.nextInt(0, 8);
            int op = r.nextInt(10);
            if (op < 6) {
                JobLane lane = r.nextInt(4) == 0 ? BATCH : INTERACTIVE;
                QueuedJob j = new QueuedJob("j" + step, "t", "m", lane, 1 + r.nextInt(1500), 8, now, null,
                        List.of((long) (1 + r.nextInt(3))));
                if (s.admit(j, now) instanceof Admission.Accepted) {
                    s.enqueue(j);
                }
            } else if (op < 9 || inFlight.isEmpty()) {
                for (BatchPlan b : s.formBatches(now)) {
                    log.append(b.poolId()).append(':').append(b.jobs().stream().map(QueuedJob::jobId).toList())
                            .append(';');
                    inFlight.add(b);
                }
            } else {
                BatchPlan b = inFlight.remove(r.nextInt(inFlight.size()));
                s.batchFinished(b.poolId(), b.batchId(), now);
            }
        }
        return log.toString().hashCode();
    }
}
