package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobLane;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Batching limits, credits and job conservation under random operation sequences. */
class DispatchSchedulerPropertiesTest {

    /** One step: 0 enqueue, 1 formBatches, 2 cancel, 3 finish a batch. */
    record Op(int kind, int prompt, boolean interactive, int model, int pick, int advanceMs) {
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> op = Combinators.combine(
                Arbitraries.integers().between(0, 3),
                Arbitraries.oneOf(Arbitraries.integers().between(1, 120), Arbitraries.integers().between(1, 3000)),
                Arbitraries.of(true, false),
                Arbitraries.integers().between(0, 1),
                Arbitraries.integers().between(0, 1000),
                Arbitraries.integers().between(0, 60)).as(Op::new);
        return op.list().ofMinSize(1).ofMaxSize(200);
    }

    @Provide
    Arbitrary<String> policies() {
        return Arbitraries.of("ect", "round-robin", "least-loaded", "random");
    }

    @Property(tries = 300)
    void batchesRespectLimitsCreditsAndNoJobIsLostOrDuplicated(@ForAll("ops") List<Op> ops,
                                                               @ForAll("policies") String policyName) {
        LengthBuckets buckets = LengthBuckets.of(64, 512, 2048);
        DispatchConfig cfg = DispatchConfig.defaults().withLengthBuckets(buckets).withMaxWaits(20, 50)
                .withBatchPromotionAfterMs(200).withMaxInFlightBatchesPerInstance(2).withMaxQueuedJobs(10_000);
        List<PoolProfile> pools = List.of(
                Fixtures.pool("a", "m0", 2, 4096, 8, Fixtures.linear(10_000, 0.01)),
                Fixtures.pool("b", "m0", 1, 3000, 3, Fixtures.linear(2_000, 0.05)),
                Fixtures.pool("c", "m1", 1, 8192, 16, Fixtures.linear(5_000, 0.02)),
                Fixtures.pool("d", "m1", 3, 1024, 4, Fixtures.linear(5_000, 0.02)));
        Map<String, PoolProfile> byId = new HashMap<>();
        pools.forEach(p -> byId.put(p.poolId(), p));
        DispatchScheduler s = new DispatchScheduler(cfg, pools, RoutingPolicies.byName(policyName, 7),
                hashes -> Map.of("a", hashes.size()));

        Set<String> queued = new HashSet<>();
        Map<String, QueuedJob> inQueueOrder = new LinkedHashMap<>();
        Set<String> dispatched = new HashSet<>();
        Set<String> cancelled = new HashSet<>();
        List<BatchPlan> inFlight = new ArrayList<>();
        long now = 0;
        int seq = 0;
        for (Op op : ops) {
            now += op.advanceMs();
            switch (op.kind()) {
                case 0 -> {
                    String model = "m" + op.model();
                    QueuedJob j = new QueuedJob("j" + seq++, "t", model,
                            op.interactive() ? JobLane.INTERACTIVE : JobLane.BATCH,
                            Math.min(op.prompt(), 3000), 8, now, null, List.of((long) op.pick()));
                    if (s.admit(j, now) instanceof Admission.Accepted) {
                        assertThat(s.enqueue(j)).isTrue();
                        assertThat(s.enqueue(j)).as("idempotent").isFalse();
                        queued.add(j.jobId());
                        inQueueOrder.put(j.jobId(), j);
                    }
                }
                case 1 -> {
                    for (BatchPlan b : s.formBatches(now)) {
                        PoolProfile p = byId.get(b.poolId());
                        assertThat(b.promptTokens()).isLessThanOrEqualTo(p.maxBatchTokens());
                        assertThat(b.jobs().size()).isLessThanOrEqualTo(p.maxConcurrentSequences());
                        Set<Integer> bucketSet = new HashSet<>();
                        Set<JobLane> lanes = new HashSet<>();
                        for (QueuedJob j : b.jobs()) {
                            bucketSet.add(buckets.bucketOf(j.promptTokens()));
                            lanes.add(j.lane());
                            assertThat(j.model()).isEqualTo(p.model());
                            assertThat(j.promptTokens()).isLessThanOrEqualTo(b.bucketUpperTokens());
                            assertThat(queued.remove(j.jobId())).as("dispatched job was queued").isTrue();
                            assertThat(dispatched.add(j.jobId())).as("dispatched once").isTrue();
                        }
                        assertThat(bucketSet).hasSize(1);
                        assertThat(lanes).hasSize(1);
                        // fairness: the oldest queued job of the batch's (lane, model, bucket) is always in it
                        QueuedJob first = b.jobs().get(0);
                        QueuedJob oldest = inQueueOrder.values().stream()
                                .filter(j -> j.lane() == first.lane() && j.model().equals(first.model())
                                        && buckets.bucketOf(j.promptTokens()) == buckets.bucketOf(first.promptTokens()))
                                .findFirst().orElseThrow();
                        assertThat(b.jobs()).as("head job of its group").contains(oldest);
                        b.jobs().forEach(j -> inQueueOrder.remove(j.jobId()));
                        inFlight.add(b);
                    }
                }
                case 2 -> {
                    if (!queued.isEmpty()) {
                        String id = new ArrayList<>(queued).stream().sorted().toList().get(op.pick() % queued.size());
                        assertThat(s.cancel(id)).isTrue();
                        assertThat(s.cancel(id)).isFalse();
                        queued.remove(id);
                        inQueueOrder.remove(id);
                        cancelled.add(id);
                    }
                }
                default -> {
                    if (!inFlight.isEmpty()) {
                        BatchPlan b = inFlight.remove(op.pick() % inFlight.size());
                        assertThat(s.batchFinished(b.poolId(), b.batchId(), now)).isTrue();
                        assertThat(s.batchFinished(b.poolId(), b.batchId(), now)).isFalse();
                    }
                }
            }
            for (PoolProfile p : pools) {
                long mine = inFlight.stream().filter(b -> b.poolId().equals(p.poolId())).count();
                assertThat(s.inFlightBatches(p.poolId())).isEqualTo(mine);
                assertThat(mine).as("credits of " + p.poolId()).isLessThanOrEqualTo(p.instances() * 2L);
            }
            assertThat(s.queuedJobs()).isEqualTo(queued.size());
            for (String id : cancelled) {
                assertThat(dispatched).doesNotContain(id);
            }
        }
        // drain: finish everything and keep forming until the queue is empty: nothing is stuck
        for (int round = 0; round < 10_000 && s.queuedJobs() > 0; round++) {
            now += 1_000;
            for (BatchPlan b : inFlight) {
                s.batchFinished(b.poolId(), b.batchId(), now);
            }
            inFlight.clear();
            for (BatchPlan b : s.formBatches(now)) {
                b.jobs().forEach(j -> assertThat(queued.remove(j.jobId())).isTrue());
                inFlight.add(b);
            }
        }
        assertThat(queued).isEmpty();
        assertThat(s.queuedJobs()).isZero();
        assertThat(s.queuedTokens("t")).isZero();
    }
}
