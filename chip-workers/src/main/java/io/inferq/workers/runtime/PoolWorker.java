package io.inferq.workers.runtime;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.workers.backend.InferenceBackend;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one pool's batches in this process: {@code slots} slots, each a member of the pool's consumer group on
 * {@code inferq.pool.<id>} with its own transactional producer, each keeping up to {@code batchesPerSlot} batches of its
 * partitions in flight at once ({@link WorkerSlot}).
 *
 * <p><b>Lease.</b> A slot holds a batch from the moment it polls it until it commits the batch as done in the same Kafka
 * transaction as the batch's results and events. The offset it commits never passes a batch still in flight on the
 * partition (it is the oldest one's); batches finished above it are named in the offset's metadata. If the process
 * dies, its group membership expires after the session timeout and its uncommitted batches go to another slot, which
 * skips the batches named done and runs the others again; if a slot stops polling for longer than the lease
 * ({@code max.poll.interval.ms}) it is removed from the group the same way (a slot polls all the time, its engine calls
 * running on threads of their own, so only a stuck slot thread loses it). {@link TerminalClaims} makes sure no job
 * reaches two terminal states; the committed metadata makes sure no batch is published twice.
 *
 * <p><b>Threading.</b> {@link #start}, {@link #isReady} and {@link #close} may be called from any thread; each slot runs
 * on a thread of its own plus {@code batchesPerSlot} engine threads.
 *
 * <p><b>Shutdown.</b> {@link #close()} stops each slot taking batches and lets it finish and write the batches it has in
 * flight; past the grace period ({@value WorkerSlot#STOP_GRACE_MS} ms) it interrupts it, handing its unfinished batches
 * back uncommitted (their engine calls are interrupted), and leaves the group.
 */
public final class PoolWorker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PoolWorker.class);

    private final PoolWorkerSettings settings;
    private final List<WorkerSlot> slots = new ArrayList<>();

    public PoolWorker(PoolWorkerSettings settings, KafkaClientSettings kafka, InferenceBackend backend,
            TerminalClaims claims, PrefixCacheHook prefixCache, TrustedOrigin origin, Clock clock, MeterRegistry registry) {
        this.settings = settings;
        java.util.concurrent.atomic.AtomicInteger busy = new java.util.concurrent.atomic.AtomicInteger();
        var pool = java.util.List.of(io.micrometer.core.instrument.Tag.of("pool", settings.poolId()));
        // batches in flight in the pool's slots (each slot may hold several): the name stays, the console reads it
        registry.gauge("inferq.worker.busy_slots", pool, busy);
        registry.gauge("inferq.worker.slots", pool, settings.slots());
        // a strong reference: a boxed value alone would be collected and the gauge read NaN
        io.micrometer.core.instrument.Gauge.builder("inferq.worker.batch_capacity", settings,
                s -> (double) s.slots() * s.batchesPerSlot()).tags(pool).strongReference(true).register(registry);
        for (int i = 0; i < settings.slots(); i++) {
            slots.add(new WorkerSlot(settings, i, kafka, backend, claims, prefixCache, origin, clock, registry, busy));
        }
    }

    public void start() {
        slots.forEach(WorkerSlot::start);
        LOG.info("pool {} ({}): {} worker slot(s) of {} batch(es) each started", settings.poolId(), settings.chip(), slots.size(),
                settings.batchesPerSlot());
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
        close(WorkerSlot.STOP_GRACE_MS);
    }

    /** As {@link #close()}, with a grace period of {@code graceMs} for the batches in flight (tests). */
    void close(long graceMs) {
        slots.forEach(WorkerSlot::requestStop);
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMs);
        slots.forEach(s -> s.awaitStop(Math.max(1, TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime()))));
    }
}
