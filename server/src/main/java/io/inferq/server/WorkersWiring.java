package io.inferq.server;

import static io.inferq.server.StartStop.quietly;

import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.job.TerminalClaims;
import io.inferq.server.config.InferqConfig;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.runtime.PoolWorker;
import io.inferq.workers.runtime.PoolWorkerSettings;
import io.inferq.workers.runtime.PrefixCacheHook;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The workers role: one {@link PoolWorker} per configured pool; its engines' back-pressure goes out through the relay. */
final class WorkersWiring {
    private final InferqConfig config;
    private final List<PoolWorker> workers = new ArrayList<>();

    WorkersWiring(InferqConfig config) {
        this.config = config;
    }

    void start(Infrastructure infra, List<PoolPlan> plans, TerminalClaims claims, PrefixCacheHook cacheHook, Clock clock,
            TrustedOrigin origin) {
        for (PoolPlan plan : plans) {
            PoolWorkerSettings settings = new PoolWorkerSettings(plan.spec().id(), plan.chip().id(), infra.processId(),
                    streamSlots(plan), batchesPerSlot(plan), config.workers().maxAttempts(), config.workers().leaseMs(),
                    config.workers().sessionTimeoutMs());
            var backend = plan.createBackend(infra.vertx(), clock, config.workers().simulatedEngineModel());
            if (backend instanceof io.inferq.workers.backend.OpenAiHttpBackend engines) {
                infra.enginePressure().publish(plan.spec().id(), engines); // engines' 429/503 reach every dispatcher
            }
            PoolWorker w = new PoolWorker(settings, infra.kafka(), backend, claims,
                    cacheHook, origin, clock, infra.registry());
            w.start();
            workers.add(w);
        }
    }

    /**
     * Slots of a pool: one per batch stream of each instance ({@code instances × dispatcher.max-in-flight-batches-per-
     * instance}), so each batch the dispatcher has in flight on an instance runs at once in that instance's engine.
     */
    int streamSlots(PoolPlan plan) {
        return slotsOf(plan.spec().instances(), config.dispatcher().maxInFlightBatchesPerInstance());
    }

    /**
     * Batches each slot of a pool keeps in flight: {@link #batchesPerSlotOf} with the pool's sequence cap and the
     * dispatcher's streams per instance.
     */
    int batchesPerSlot(PoolPlan plan) {
        return batchesPerSlotOf(plan.spec().limits().maxConcurrentSequences(), config.dispatcher().maxInFlightBatchesPerInstance());
    }

    /**
     * {@code 1 + ⌈maxConcurrentSequences ÷ streams⌉}: enough for an instance to run its {@code streams} batch credits plus
     * all its fair credits at once. With fair credits on ({@code dispatcher.fairness.fair-credits}), the dispatcher may
     * put up to {@code maxConcurrentSequences} batches per instance beside its batch credits (the pool's fair credits are
     * {@code instances × maxConcurrentSequences}; a batch holds at least one sequence, so more would only wait inside the
     * engine), and spreads an instance's batches over its streams, the least held first
     * ({@code InFlightBatches.freeStream}). An instance's {@code streams + maxConcurrentSequences} batches then hold at
     * most {@code ⌈(streams + maxConcurrentSequences) ÷ streams⌉ = 1 + ⌈maxConcurrentSequences ÷ streams⌉} per stream,
     * and so per slot. Should an instance receive more (the pool's fair credits are booked on instances by backlog,
     * not by an exact per-instance cap), the extra batches wait in the partition, unread, until a batch of the slot ends,
     * as every batch did before. Without fair credits a stream holds one batch at a time and the extra room stays unused
     * (a slot makes engine threads only for the batches it runs). At least 1, at most
     * {@link PoolWorkerSettings#MAX_BATCHES_PER_SLOT}.
     */
    static int batchesPerSlotOf(int maxConcurrentSequences, int streamsPerInstance) {
        int streams = Math.max(1, streamsPerInstance);
        long perSlot = 1 + ((long) Math.max(1, maxConcurrentSequences) + streams - 1) / streams;
        return (int) Math.min(PoolWorkerSettings.MAX_BATCHES_PER_SLOT, perSlot);
    }

    /** {@code instances × streamsPerInstance}, the worker slots (and at least the partitions) of a pool. */
    static int slotsOf(int instances, int streamsPerInstance) {
        return Math.multiplyExact(instances, Math.max(1, streamsPerInstance));
    }

    void readiness(Map<String, Boolean> r) {
        for (PoolWorker w : workers) {
            r.put("pool:" + w.poolId(), w.isReady());
        }
    }

    /** Lets each worker finish (or hand back) its batches. */
    void close() {
        workers.forEach(w -> quietly(w::close));
        workers.clear();
    }
}
