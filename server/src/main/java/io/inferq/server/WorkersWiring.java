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
                    streamSlots(plan), config.workers().maxAttempts(), config.workers().leaseMs(),
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
