package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.fairness.VirtualTokenCounter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Fair sharing's bookkeeping under random operations with several tenants, deadlines, cancels, withdrawals and
 * expiry: no job is lost or dispatched twice, batches keep their limits, every tenant's backlog in the counters
 * matches the queue, and everything drains.
 */
class FairSharingPropertiesTest {

    /** One step: 0 enqueue, 1 formBatches, 2 cancel or withdraw, 3 finish a batch, 4 expire. */
    record Op(int kind, int prompt, boolean interactive, int tenant, int pick, int advanceMs, boolean deadline) {
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> op = Combinators.combine(
                Arbitraries.integers().between(0, 4),
                Arbitraries.oneOf(Arbitraries.integers().between(1, 120), Arbitraries.integers().between(1, 3000)),
                Arbitraries.of(true, false),
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, 1000),
                Arbitraries.integers().between(0, 60),
                Arbitraries.of(true, false)).as(Op::new);
        return op.list().ofMinSize(1).ofMaxSize(200);
    }

    @Property(tries = 100)
    void queuesCountersAndBatchesStayConsistent(@ForAll("ops") List<Op> ops) {
        LengthBuckets buckets = LengthBuckets.of(64, 512, 2048);
        DispatchConfig cfg = DispatchConfig.defaults().withLengthBuckets(buckets).withMaxWaits(20, 50)
                .withBatchPromotionAfterMs(200).withMaxInFlightBatchesPerInstance(2).withMaxQueuedJobs(10_000);
        List<PoolProfile> pools = List.of(
                Fixtures.pool("a", "m", 2, 4096, 8, Fixtures.linear(10_000, 0.01)),
                Fixtures.pool("b", "m", 1, 3000, 3, Fixtures.linear(2_000, 0.05)));
        Map<String, PoolProfile> byId = new HashMap<>();
        pools.forEach(p -> byId.put(p.poolId(), p));
        DispatchScheduler s = new DispatchScheduler(cfg,
                FairnessConfig.defaults().withTenantWeights(Map.of("t1", 2.0)).withAffinityBudgetTokens(500), pools,
                RoutingPolicies.estimatedCompletion(), hashes -> Map.of("a", hashes.size()), null);
        Map<String, QueuedJob> queued = new HashMap<>();
        Set<String> gone = new HashSet<>();
        List<BatchPlan> inFlight = new ArrayList<>();
        long now = 0;
        int seq = 0;
        for (Op op : ops) {
            now += op.advanceMs();
            switch (op.kind()) {
                case 0 -> {
                    QueuedJob j = new QueuedJob("j" + seq++, "t" + op.tenant(), "m",
                            op.interactive() ? JobLane.INTERACTIVE : JobLane.BATCH, Math.min(op.prompt(), 3000),
                            1 + op.pick() % 50, now, op.deadline() ? now + 50 + op.pick() : null,
                            List.of((long) op.pick() % 3));
                    if (s.admit(j, now) instanceof Admission.Accepted) {
                        assertThat(s.enqueue(j)).isTrue();
                        queued.put(j.jobId(), j);
                    }
                }
                case 1 -> {
                    for (BatchPlan b : s.formBatches(now)) {
                        PoolProfile p = byId.get(b.poolId());
                        assertThat(b.promptTokens()).isLessThanOrEqualTo(p.maxBatchTokens());
                        assertThat(b.jobs().size()).isLessThanOrEqualTo(p.maxConcurrentSequences());
                        assertThat(b.jobs().stream().map(QueuedJob::lane).distinct().count()).isEqualTo(1);
                        for (QueuedJob j : b.jobs()) {
                            assertThat(queued.remove(j.jobId())).as("dispatched once, and only if queued").isNotNull();
                            gone.add(j.jobId());
                        }
                        inFlight.add(b);
                    }
                }
                case 2 -> {
                    if (!queued.isEmpty()) {
                        String id = queued.keySet().stream().sorted().toList().get(op.pick() % queued.size());
                        assertThat(op.interactive() ? s.cancel(id) : s.withdraw(id)).isTrue();
                        queued.remove(id);
                        gone.add(id);
                    }
                }
                case 3 -> {
                    if (!inFlight.isEmpty()) {
                        BatchPlan b = inFlight.remove(op.pick() % inFlight.size());
                        assertThat(s.batchFinished(b.poolId(), b.batchId(), now)).isTrue();
                    }
                }
                default -> {
                    for (QueuedJob j : s.expireDue(now)) {
                        assertThat(queued.remove(j.jobId())).as("expired once, and only if queued").isNotNull();
                        assertThat(j.deadlineAtMs()).isNotNull();
                    }
                }
            }
            assertThat(s.queuedJobs()).isEqualTo(queued.size());
            for (JobLane lane : JobLane.values()) {
                VirtualTokenCounter vtc = s.fairShare("m", lane);
                for (int t = 0; t < 3; t++) {
                    String tenant = "t" + t;
                    long mine = queued.values().stream().filter(j -> j.tenant().equals(tenant) && j.lane() == lane).count();
                    assertThat(vtc.backlog(tenant)).as("%s backlog in %s", tenant, lane).isEqualTo(mine);
                }
            }
        }
        for (int round = 0; round < 10_000 && s.queuedJobs() > 0; round++) {
            now += 1_000;
            for (BatchPlan b : inFlight) {
                s.batchFinished(b.poolId(), b.batchId(), now);
            }
            inFlight.clear();
            s.expireDue(now).forEach(j -> queued.remove(j.jobId()));
            for (BatchPlan b : s.formBatches(now)) {
                b.jobs().forEach(j -> assertThat(queued.remove(j.jobId())).isNotNull());
                inFlight.add(b);
            }
        }
        assertThat(queued).isEmpty();
        assertThat(s.queuedJobs()).isZero();
        for (JobLane lane : JobLane.values()) {
            assertThat(s.fairShare("m", lane).backloggedTenants()).isZero();
        }
    }
}
