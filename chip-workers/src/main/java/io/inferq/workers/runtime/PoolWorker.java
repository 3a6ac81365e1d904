package io.inferq.workers.runtime;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.workers.backend.InferenceBackend;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one pool's batches in this process: {@code slots} threads, each a member of the pool's
 * consumer group on {@code inferq.pool.<id>} with its own transactional producer.
 *
 * <p><b>Lease.</b> A slot holds a batch from the moment it polls it until it commits the batch's
 * offset in the same Kafka transaction as the batch's results and events. If the process dies, its
 * group membership expires after the session timeout and the uncommitted batch goes to another slot;
 * if a slot hangs longer than the lease ({@code max.poll.interval.ms}) it is removed from the group
 * the same way. The batch then runs again; {@link TerminalClaims} makes sure no job reaches two
 * terminal states.
 *
 * <p><b>Shutdown.</b> {@link #close()} lets each slot finish the batch it is running (or, past the
 * grace period, hands it back by not committing) and leaves the group.
 */
public final class PoolWorker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PoolWorker.class);

    private final PoolWorkerSettings settings;
    private final List<WorkerSlot> slots = new ArrayList<>();

    public PoolWorker(PoolWorkerSettings settings, KafkaClientSettings kafka, InferenceBackend backend,
            TerminalClaims claims, PrefixCacheHook prefixCache, TrustedOrigin origin, Clock clock, MeterRegistry registry) {
        this.settings = settings;
        java.util.concurrent.atomic.AtomicInteger busy = new java.util.concurrent.atomic.AtomicInteger();
        registry.gauge("inferq.worker.busy_slots", java.util.List.of(io.micrometer.core.instrument.Tag.of("pool", settings.poolId())),
                busy);
        registry.gauge("inferq.worker.slots", java.util.List.of(io.micrometer.core.instrument.Tag.of("pool", settings.poolId())),
                settings.slots());
        for (int i = 0; i < settings.slots(); i++) {
            slots.add(new WorkerSlot(settings, i, kafka, backend, claims, prefixCache, origin, clock, registry, busy));
        }
    }

    public void start() {
        slots.forEach(WorkerSlot::start);
        LOG.info("pool {} ({}): {} worker slot(s) started", settings.poolId(), settings.chip(), slots.size());
    }

    /**
     * @return true when every slot has joined the pool's consumer group, its transactional producer is initialised, and it
     *         knows where to read each partition it owns (its committed offset fetched)
     */
    public boolean isReady() {
        return slots.stream().allMatch(WorkerSlot::isReady);
    }

    public String poolId() {
        return settings.poolId();
    }

    @Override
    public void close() {
        slots.forEach(WorkerSlot::requestStop);
        slots.forEach(WorkerSlot::awaitStop);
    }
}
