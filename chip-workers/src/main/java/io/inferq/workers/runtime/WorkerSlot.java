package io.inferq.workers.runtime;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.JobLane;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.job.outcome.Backoff;
import io.inferq.job.outcome.TerminalOutcomeWriter;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.workers.backend.BatchWork;
import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.InferenceError;
import io.inferq.workers.backend.SequenceOutcome;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.backend.TokenSink;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One slot of a pool: a member of the pool's consumer group that keeps up to {@link PoolWorkerSettings#batchesPerSlot()}
 * batches of its partitions in flight at once, each running on the backend, and publishes each batch's results, events
 * and committed offset in a Kafka transaction of its own (read-process-write exactly-once) as soon as its engine call
 * ends, in whatever order the calls end.
 *
 * <p><b>Threading.</b> The slot thread owns every Kafka client (consumer, transactional producer, event producer) and
 * all of the slot's state. It polls without pause while it has room, pauses its partitions when it is full and resumes
 * them when a batch leaves, so it polls all the time and never loses its lease to a long generation. Each engine call
 * runs on a thread of the slot's bounded engine executor (at most {@code batchesPerSlot} threads, made as needed);
 * when it ends it queues the batch for the slot thread and wakes the consumer ({@link KafkaConsumer#wakeup()}), and the
 * slot thread writes the batch. Engine threads touch no Kafka client except the (thread-safe) event producer through
 * which streamed text goes ({@link JobTokenPublisher}).
 *
 * <p><b>Offsets.</b> A batch's transaction commits the partition's low watermark — the oldest batch still in flight on
 * it, or the next offset to read when none is — and names the batches finished above it in the offset's metadata
 * ({@link DoneOffsets}, kept under {@value DoneOffsets#MAX_BYTES} bytes: a partition whose next batch would break that
 * bound waits until its watermark moves). A slot that takes a partition reads the committed offset and metadata first
 * (the partition paused meanwhile; the slot is not ready until it has them) and skips the batches named done. So every
 * batch's outcome is committed exactly once: a batch is published only in the transaction that also records it as done,
 * and a batch recorded as done is never run again by whoever reads the partition next. (The terminal claims alone would
 * not stop a second publication: a batch run again repeats its own earlier win.)
 *
 * <p><b>Rebalances.</b> The range assignor is eager: every rebalance revokes all partitions first. A batch whose
 * partition is revoked is kept, but its outcome is not written until the partition's fate is decided. If the same
 * partition comes back to this slot and its committed offset and metadata are still what the slot last committed (no
 * one else committed there, so no one else published any of its batches), the slot keeps its batches in flight and
 * seeks to its own next offset so they are not read again. Otherwise (the partition lost, given to another member, or
 * its committed state changed) its batches are orphaned: their engine calls are interrupted (a backend that ignores the
 * interruption still holds its engine thread, counted against the slot's room until it ends) and their outcomes never
 * published; the partition's new owner runs them.
 *
 * <p><b>Write failures.</b> A job whose outcome can never be written (its reply topic is internal, invalid or not
 * authorised; its result is too large or cannot be encoded) fails alone — a {@code failed} outcome with a
 * {@link WriteFailure} code and a dead-letter copy — and the batch's other jobs are written as they ended, without
 * running on the engine again. Transient failures are retried with backoff and a limit ({@link #MAX_WRITE_ATTEMPTS}),
 * each batch with a {@link BatchWriteRetry} of its own; the backoff sleeps on the slot thread (at most
 * {@value #WRITE_RETRY_MAX_MS} ms at a time), delaying the slot's other writes meanwhile. A batch therefore never stalls
 * its pool because of one job. A producer fenced by a newer incarnation stops the slot, handing back every batch in
 * flight uncommitted. Any other failure (a producer that cannot go on, a claims store that does not answer, an engine
 * call that throws) restarts the slot's clients after a second; the batches in flight stay, their partitions' fate
 * decided by the new clients' assignment as after a rebalance (an engine call that threw orphans its partition's
 * batches: the partition is read again from what is committed).
 *
 * <p><b>Shutdown.</b> {@link #requestStop()} stops the slot taking batches; it finishes and writes those in flight.
 * {@link #awaitStop} interrupts it past the grace period: unfinished batches are then handed back uncommitted.
 */
final class WorkerSlot {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerSlot.class);

    private final PoolWorkerSettings settings;
    private final int index;
    private final KafkaClientSettings kafka;
    private final InferenceBackend backend;
    private final TerminalClaims claims;
    private final PrefixCacheHook prefixCache;
    private final TrustedOrigin origin;
    private final Clock clock;
    private final java.util.Set<String> knownReplyTopics = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Reads batches of every {@code PoolBatch} version a dispatcher may still write. */
    private final AvroSerde<PoolBatch> batchSerde = io.inferq.broker.serde.PoolBatchSchemas.serde();
    private final AvroSerde<JobEvent> eventSerde = new AvroSerde<>(JobEvent.class);
    private final AvroSerde<JobRequest> requestSerde = new AvroSerde<>(JobRequest.class);
    private final AtomicBoolean running = new AtomicBoolean();
    private final Counter succeeded;
    private final Counter failed;
    private final Counter handedBack;
    private final Counter skipped;
    private final Counter unwritableJobs;
    private final Counter abandonedJobs;
    private final Counter writeRetries;
    private final Counter orphanedBatches;
    private final Counter doneBatchesSkipped;
    private final Timer batchTimer;
    private final Counter promptTokens;
    private final Counter completionTokens;
    private final Counter cachedTokens;
    /** Batches in flight in the pool's slots of this process (shared by the pool's slots): {@code inferq.worker.busy_slots}. */
    private final AtomicInteger busyBatches;
    private volatile boolean ready;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;
    /** Runs the engine calls of the batches in flight: {@code batchesPerSlot} threads. */
    private ExecutorService engines;

    // --- slot thread only ---
    /** The partitions this slot holds or held until a rebalance whose outcome is not decided yet. */
    private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
    /** Assigned partitions whose committed offset and metadata have not been read yet (paused until they are). */
    private final Set<TopicPartition> undecided = new HashSet<>();
    /** Batches in flight on partitions of {@link #progress}, in the order they were read. */
    private final List<InFlightBatch> inFlight = new ArrayList<>();
    /** Batches whose engine call ended, waiting to be written (or for their partition's fate). */
    private final ArrayDeque<InFlightBatch> toWrite = new ArrayDeque<>();
    /** Engine calls of orphaned batches that have not ended yet: they hold an engine thread each. */
    private int orphansRunning;
    /** Whether the group has given this consumer an assignment and not taken its membership away since. */
    private boolean member;
    /**
     * What the write attempts of orphaned batches taught (their engine outcomes, unwritable jobs), by batch id: a batch
     * this slot reads again — after its clients restarted because a commit could not even be aborted — is written
     * again, not run again. The most recent {@code batchesPerSlot} only.
     */
    private final Map<String, BatchWriteRetry> carried = new java.util.LinkedHashMap<>(16, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, BatchWriteRetry> eldest) {
            return size() > settings.batchesPerSlot();
        }
    };

    /** Batches whose engine call ended (engine threads add, the slot thread takes). */
    private final ConcurrentLinkedQueue<InFlightBatch> ended = new ConcurrentLinkedQueue<>();

    /** Polling timeout while the slot waits for work; a batch's end wakes the poll. */
    static final long POLL_MS = 200;
    /** Polling timeout while an assigned partition's committed offset is being read. */
    static final long UNDECIDED_POLL_MS = 50;
    /** How long {@link #awaitStop} lets the batches in flight finish before it interrupts the slot. */
    static final long STOP_GRACE_MS = 30_000;
    /** Failed attempts at writing a batch before the jobs whose results go to reply topics fail ({@code result_write_failed}). */
    static final int MAX_WRITE_ATTEMPTS = 5;
    /** Delay before writing a batch again after a transient failure: from this, doubling, up to {@link #WRITE_RETRY_MAX_MS}. */
    static final long WRITE_RETRY_MIN_MS = 200;
    static final long WRITE_RETRY_MAX_MS = 5_000;
    static final Backoff WRITE_BACKOFF = new Backoff(WRITE_RETRY_MIN_MS, WRITE_RETRY_MAX_MS);

    /** A batch read from the pool topic and not yet committed or orphaned. */
    private static final class InFlightBatch {
        final TopicPartition tp;
        final long offset;
        final PoolBatch batch;
        /** What its failed write attempts taught (slot thread only). */
        final BatchWriteRetry retry;
        final long startNanos = System.nanoTime();
        /** The attempt being run and written (slot thread only). */
        Plan plan;
        /** From submission until the slot thread takes its end from {@link #ended} (slot thread only). */
        boolean engineBusy;
        /** Its outcome is not to be published: its partition went elsewhere or the slot stops (slot thread only). */
        boolean orphaned;
        /** To be planned again before it is written: a failure ended the slot's clients meanwhile (slot thread only). */
        boolean replan;
        /** Jobs whose prompt blocks were stored in the prefix cache when their engine prefilled them (any thread). */
        final Set<String> storedAtPrefill = ConcurrentHashMap.newKeySet();
        // set by the engine thread before it queues the batch on ended, read by the slot thread after
        volatile List<SequenceOutcome> ran;
        volatile Throwable error;
        /** Guards runner and cancelled between the engine thread and the slot thread. */
        private Thread runner;
        private boolean cancelled;
        private boolean finished;

        InFlightBatch(TopicPartition tp, long offset, PoolBatch batch, BatchWriteRetry retry) {
            this.tp = tp;
            this.offset = offset;
            this.batch = batch;
            this.retry = retry;
        }

        /** Engine thread: @return false if the call was cancelled before it started */
        synchronized boolean begin() {
            if (cancelled) {
                return false;
            }
            runner = Thread.currentThread();
            return true;
        }

        /** Engine thread: the call ended; the interrupt of a cancel that came too late is cleared. */
        synchronized void end() {
            finished = true;
            runner = null;
            Thread.interrupted();
        }

        /** Slot thread: interrupts the engine call (if it runs) or stops it from starting. */
        synchronized void cancel() {
            cancelled = true;
            if (runner != null && !finished) {
                runner.interrupt();
            }
        }
    }

    /**
     * One attempt at a batch: its jobs sorted out before the engine call, the outcomes already known (late, unwritable),
     * and what to run.
     */
    private record Plan(String owner, long now, List<JobRequest> live, List<JobEvent> terminal, Map<String, JobRequest> byId,
            List<SequenceWork> work, List<SequenceWork> toRun) {
    }

    WorkerSlot(PoolWorkerSettings settings, int index, KafkaClientSettings kafka, InferenceBackend backend,
            TerminalClaims claims, PrefixCacheHook prefixCache, TrustedOrigin origin, Clock clock, MeterRegistry registry,
            AtomicInteger busy) {
        this.origin = origin;
        this.settings = settings;
        this.index = index;
        this.kafka = kafka;
        this.backend = backend;
        this.claims = claims;
        this.prefixCache = prefixCache;
        this.clock = clock;
        String pool = settings.poolId();
        this.succeeded = registry.counter("inferq.worker.jobs", "pool", pool, "outcome", "succeeded");
        this.failed = registry.counter("inferq.worker.jobs", "pool", pool, "outcome", "failed");
        this.handedBack = registry.counter("inferq.worker.jobs", "pool", pool, "outcome", "handed_back");
        this.skipped = registry.counter("inferq.worker.jobs", "pool", pool, "outcome", "skipped_terminal");
        this.unwritableJobs = registry.counter("inferq.worker.unwritable_outcomes", "pool", pool);
        this.abandonedJobs = registry.counter("inferq.worker.abandoned_outcomes", "pool", pool);
        this.writeRetries = registry.counter("inferq.worker.write_retries", "pool", pool);
        this.orphanedBatches = registry.counter("inferq.worker.orphaned_batches", "pool", pool);
        this.doneBatchesSkipped = registry.counter("inferq.worker.done_batches_skipped", "pool", pool);
        this.batchTimer = registry.timer("inferq.worker.batch.duration", "pool", pool);
        this.promptTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "prompt");
        this.completionTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "completion");
        this.cachedTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "cached");
        this.busyBatches = busy;
    }

    private BatchWriteRetry newRetry(String batchId) {
        return new BatchWriteRetry(batchId, settings.poolId(), writeRetries, abandonedJobs);
    }

    void start() {
        AtomicInteger n = new AtomicInteger();
        // at most batchesPerSlot threads, made when no idle one is left and ended after a minute idle; the slot never has
        // more engine calls than that (batches in flight + orphans still running), but a thread whose call just ended may
        // not be idle yet: a call then waits for it (briefly) instead of being refused
        engines = new java.util.concurrent.ThreadPoolExecutor(0, settings.batchesPerSlot(), 60, TimeUnit.SECONDS,
                new java.util.concurrent.SynchronousQueue<>(), r -> {
                    Thread t = new Thread(r, "worker-" + settings.poolId() + "-" + index + "-engine-" + n.getAndIncrement());
                    t.setDaemon(true);
                    return t;
                }, (call, pool) -> {
                    try {
                        if (pool.isShutdown() || !pool.getQueue().offer(call, 10, TimeUnit.SECONDS)) {
                            throw new java.util.concurrent.RejectedExecutionException("no engine thread of the slot came free");
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.util.concurrent.RejectedExecutionException("interrupted", e);
                    }
                });
        running.set(true);
        thread = new Thread(this::run, "worker-" + settings.poolId() + "-" + index);
        thread.setDaemon(true);
        thread.start();
    }

    boolean isReady() {
        return ready;
    }

    /** Any thread: the slot takes no more batches and stops once those in flight are written. */
    void requestStop() {
        running.set(false);
        wake();
    }

    /**
     * Waits for the slot to stop; past {@code graceMs} interrupts it, handing its unfinished batches back uncommitted
     * (their engine calls are interrupted too).
     */
    void awaitStop(long graceMs) {
        try {
            thread.join(graceMs);
            if (thread.isAlive()) {
                thread.interrupt(); // past the grace period: hand the batches back uncommitted
                thread.join(10_000);
            }
            engines.shutdownNow();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Any thread: makes the slot thread look at its ended batches (or its stop) now rather than at its next poll. */
    private void wake() {
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    private void run() {
        String clientId = "worker-" + settings.poolId() + "-" + settings.processId() + "-" + index;
        Properties cp = kafka.consumer(clientId, "inferq.pool." + settings.poolId() + ".workers");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(settings.batchesPerSlot()));
        // range: each slot owns one block of partitions, and the dispatcher sends each batch it planned for an instance
        // to the first partition of the block of one of that instance's streams (BatchPlan.partitionOf)
        cp.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, org.apache.kafka.clients.consumer.RangeAssignor.class.getName());
        cp.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, String.valueOf(settings.leaseMs()));
        cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(settings.sessionTimeoutMs()));
        cp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, String.valueOf(settings.sessionTimeoutMs() / 3));
        String txId = "inferq-worker-" + settings.poolId() + "-" + settings.processId() + "-" + index;
        while (running.get()) {
            boolean interrupted = false;
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
                    KafkaProducer<String, byte[]> tx = new KafkaProducer<>(txProps(clientId, txId),
                            new StringSerializer(), new ByteArraySerializer());
                    KafkaProducer<String, byte[]> events = new KafkaProducer<>(kafka.producer(clientId + "-events"),
                            new StringSerializer(), new ByteArraySerializer())) {
                consumer = c;
                try {
                    tx.initTransactions();
                    try {
                        events.partitionsFor(TopicCatalogue.JOB_TOKENS); // so a streamed piece never waits for metadata
                    } catch (RuntimeException e) {
                        LOG.warn("metadata of {} not read: {}", TopicCatalogue.JOB_TOKENS, e.toString());
                    }
                    member = false;
                    c.subscribe(List.of(TopicCatalogue.poolTopic(settings.poolId())), new Rebalances(c));
                    session(c, tx, events);
                } catch (InterruptedException | InterruptException e) {
                    Thread.interrupted(); // the clients close normally; the interrupt is restored below
                    interrupted = true;
                } finally {
                    consumer = null;
                    suspendAll(); // the next clients' assignment decides what becomes of the batches in flight
                }
            } catch (WakeupException e) {
                // a stop requested while the clients started
            } catch (ProducerFencedException e) {
                LOG.error("slot {} of pool {} fenced by a newer incarnation; stopping", index, settings.poolId());
                ready = false; // a stopped slot must not count as ready in /ready
                orphanAll();
                return;
            } catch (RuntimeException e) {
                ready = false;
                LOG.error("slot {} of pool {} failed; restarting its clients in 1 s", index, settings.poolId(), e);
                sleepQuietly(1000);
            }
            if (interrupted) {
                ready = false;
                orphanAll();
                LOG.warn("slot {} of pool {} interrupted: its unfinished batches are handed back uncommitted", index,
                        settings.poolId());
                Thread.currentThread().interrupt();
                return;
            }
        }
        orphanAll(); // stopped: whatever is still in flight goes back uncommitted, the next owner runs it
        ready = false;
    }

    /**
     * The slot's loop with one set of clients: poll (paused when full), decide re-assigned partitions, start the batches
     * read, write the batches whose engine calls ended. Returns once stopped with nothing left in flight.
     */
    private void session(KafkaConsumer<String, byte[]> c, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events)
            throws InterruptedException {
        while (running.get() || !inFlight.isEmpty()) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            applyPauses(c);
            ConsumerRecords<String, byte[]> records;
            try {
                records = c.poll(Duration.ofMillis(undecided.isEmpty() ? POLL_MS : UNDECIDED_POLL_MS));
            } catch (WakeupException e) {
                records = ConsumerRecords.empty(); // a batch ended, or a stop: looked at below
            }
            decideUndecided(c);
            ready = member && undecided.isEmpty() && canRead(c);
            accept(records, c, tx, events);
            takeEnded();
            writeEnded(c, tx, events);
        }
    }

    /**
     * Pauses what the slot must not read now — everything when it is full or stopping; else the partitions whose fate
     * or start offset is not decided, and those waiting for their watermark to move ({@link PartitionProgress#canStart})
     * — and resumes the rest.
     */
    private void applyPauses(KafkaConsumer<String, byte[]> c) {
        Set<TopicPartition> assigned = c.assignment();
        if (assigned.isEmpty()) {
            return;
        }
        boolean room = running.get() && hasRoom();
        List<TopicPartition> pause = new ArrayList<>();
        List<TopicPartition> resume = new ArrayList<>();
        for (TopicPartition tp : assigned) {
            PartitionProgress p = progress.get(tp);
            boolean readable = room && p != null && p.owned && !undecided.contains(tp)
                    && (p.blockedAt < 0 || p.canStart(p.blockedAt));
            (readable ? resume : pause).add(tp);
        }
        c.pause(pause);
        c.resume(resume);
    }

    private boolean hasRoom() {
        return inFlight.size() + orphansRunning < settings.batchesPerSlot();
    }

    /**
     * The group's callbacks, called on the slot thread inside {@code poll}. Revoked partitions keep their batches until
     * their fate is decided ({@link #decideUndecided}); lost ones (membership gone: another member may own them already)
     * orphan theirs at once; assigned ones are paused until their committed offset and metadata are read.
     */
    private final class Rebalances implements ConsumerRebalanceListener {
        private final KafkaConsumer<String, byte[]> c;

        Rebalances(KafkaConsumer<String, byte[]> c) {
            this.c = c;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                PartitionProgress p = progress.get(tp);
                if (p != null) {
                    p.owned = false;
                }
                undecided.remove(tp);
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            member = true;
            for (TopicPartition tp : new ArrayList<>(progress.keySet())) {
                if (!progress.get(tp).owned && !partitions.contains(tp)) {
                    orphan(tp, "given to another member");
                }
            }
            undecided.addAll(partitions);
            c.pause(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            member = false;
            for (TopicPartition tp : partitions) {
                orphan(tp, "lost with the slot's group membership");
                undecided.remove(tp);
            }
        }
    }

    /**
     * Reads the committed offset and metadata of the partitions assigned since the last decision (never waits: a read not
     * answered yet is asked again at the next loop, the partitions stay paused and the slot not ready). A partition this
     * slot held before the rebalance whose committed state is unchanged keeps its batches and is read on from where the
     * slot was; any other starts afresh from what is committed, its former batches (if any) orphaned.
     */
    private void decideUndecided(KafkaConsumer<String, byte[]> c) {
        if (undecided.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> committed;
        try {
            committed = c.committed(new HashSet<>(undecided), Duration.ZERO);
        } catch (org.apache.kafka.common.errors.TimeoutException | WakeupException e) {
            return;
        }
        Set<TopicPartition> assigned = c.assignment();
        for (TopicPartition tp : undecided) {
            if (!assigned.contains(tp)) {
                continue;
            }
            OffsetAndMetadata now = committed.get(tp);
            PartitionProgress p = progress.get(tp);
            if (p != null && p.unchangedSince(now)) {
                p.owned = true;
                if (p.next() >= 0) {
                    c.seek(tp, p.next()); // its batches in flight are not read again
                }
                if (p.inFlightCount() > 0) {
                    LOG.info("pool {}: slot {} keeps partition {} and its {} batch(es) in flight", settings.poolId(), index, tp,
                            p.inFlightCount());
                }
                continue;
            }
            if (p != null) {
                orphan(tp, "committed by another slot meanwhile");
            }
            if (now != null && !now.metadata().isEmpty()) {
                try {
                    DoneOffsets.decode(now.offset(), now.metadata());
                } catch (IllegalArgumentException e) {
                    LOG.warn("pool {}: metadata of the committed offset of {} is not inferq's; nothing above {} counts as done ({})",
                            settings.poolId(), tp, now.offset(), e.getMessage());
                }
            }
            progress.put(tp, new PartitionProgress(now));
            if (now != null) {
                c.seek(tp, now.offset());
            }
        }
        undecided.clear();
    }

    /** Orphans the batches in flight on {@code tp} and forgets the partition. Slot thread. */
    private void orphan(TopicPartition tp, String why) {
        PartitionProgress p = progress.remove(tp);
        if (p == null) {
            return;
        }
        int n = 0;
        for (java.util.Iterator<InFlightBatch> it = inFlight.iterator(); it.hasNext();) {
            InFlightBatch b = it.next();
            if (b.tp.equals(tp)) {
                it.remove();
                orphan(b);
                n++;
            }
        }
        if (n > 0) {
            LOG.info("pool {}: slot {} orphans {} batch(es) of {} ({}): their outcomes are left to its owner", settings.poolId(),
                    index, n, tp, why);
        }
    }

    private void orphan(InFlightBatch b) {
        b.orphaned = true;
        if (b.retry.attempts > 0 || !b.retry.outcomes.isEmpty()) {
            carried.put(b.batch.getBatchId(), b.retry);
        }
        if (b.engineBusy) {
            orphansRunning++;
            b.cancel();
        }
        toWrite.remove(b);
        busyBatches.decrementAndGet();
        orphanedBatches.increment();
    }

    /**
     * The slot's clients close but the slot goes on (a producer that cannot go on, a failure): its partitions' fate is
     * undecided until the next clients' assignment, decided as after a rebalance, so batches still running are kept if
     * their partitions come back unchanged. (Text their engine calls stream meanwhile is lost with the closed event
     * producer; the terminal event carries it all.)
     */
    private void suspendAll() {
        progress.values().forEach(p -> p.owned = false);
        undecided.clear();
        member = false;
    }

    /** Orphans everything: the slot stops. */
    private void orphanAll() {
        for (TopicPartition tp : new ArrayList<>(progress.keySet())) {
            orphan(tp, "the slot's clients close");
        }
        for (InFlightBatch b : new ArrayList<>(inFlight)) {
            orphan(b);
        }
        inFlight.clear();
        toWrite.clear();
        undecided.clear();
        member = false;
    }

    /**
     * Whether this slot can take work: it is a member of the pool's group and knows where to read every partition it owns.
     * A partition whose start offset cannot be fetched — e.g. its committed offset sits in a transaction that never ends
     * ({@code UNSTABLE_OFFSET_COMMIT}), where the consumer waits for it forever — makes the slot not ready, so {@code /ready}
     * shows the stalled pool instead of a slot that polls nothing. Slot thread only; never waits (a zero timeout: a position not
     * known yet is asked for, and the next poll goes on fetching it).
     */
    private boolean canRead(KafkaConsumer<String, byte[]> c) {
        for (TopicPartition tp : c.assignment()) {
            try {
                c.position(tp, Duration.ZERO);
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                return false;
            } catch (WakeupException e) {
                return ready; // a batch ended meanwhile: asked again at the next loop
            }
        }
        return true;
    }

    /**
     * Starts the batches polled, oldest first per partition, while the slot has room; skips those committed as done; seeks
     * back to the first one it does not start, so it is read again later.
     */
    private void accept(ConsumerRecords<String, byte[]> records, KafkaConsumer<String, byte[]> c, KafkaProducer<String, byte[]> tx,
            KafkaProducer<String, byte[]> events) {
        for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<String, byte[]>> rs = records.records(tp);
            PartitionProgress p = progress.get(tp);
            if (p == null || !p.owned || undecided.contains(tp) || !running.get()) {
                c.seek(tp, rs.get(0).offset());
                continue;
            }
            for (ConsumerRecord<String, byte[]> r : rs) {
                long o = r.offset();
                if (p.isInFlight(o) || o < p.next()) {
                    continue;
                }
                if (p.isDone(o)) {
                    p.skipped(o);
                    doneBatchesSkipped.increment();
                    LOG.info("pool {}: batch at {}@{} was committed as done; skipped", settings.poolId(), tp, o);
                    continue;
                }
                if (!hasRoom() || !p.canStart(o)) {
                    p.blockedAt = hasRoom() ? o : -1;
                    c.seek(tp, o);
                    break;
                }
                start(r, tp, p, c, tx, events);
            }
        }
    }

    private void start(ConsumerRecord<String, byte[]> record, TopicPartition tp, PartitionProgress p,
            KafkaConsumer<String, byte[]> c, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events) {
        PoolBatch batch;
        try {
            batch = batchSerde.decode(record.value());
        } catch (AvroSerde.AvroDecodeException e) {
            LOG.error("pool {}: undecodable batch at {}-{}@{} skipped: {}", settings.poolId(), record.topic(),
                    record.partition(), record.offset(), e.getMessage());
            p.started(record.offset());
            OffsetAndMetadata commit = p.commitFor(record.offset());
            try {
                tx.beginTransaction();
                tx.sendOffsetsToTransaction(Map.of(tp, commit), c.groupMetadata());
                tx.commitTransaction();
            } catch (RuntimeException x) {
                orphan(tp, "a commit failed"); // read again from what is committed, by whoever owns it next
                throw x;
            }
            p.committed(record.offset(), commit);
            return;
        }
        p.started(record.offset());
        BatchWriteRetry retry = carried.remove(batch.getBatchId());
        InFlightBatch b = new InFlightBatch(tp, record.offset(), batch, retry != null ? retry : newRetry(batch.getBatchId()));
        inFlight.add(b);
        busyBatches.incrementAndGet();
        attempt(b, tx, events);
    }

    /**
     * Marks {@code b} to be planned again before it is written, and queues it: a failure (of the claims, of the producer)
     * ends the slot's clients while the batch is being planned or written.
     */
    private static void replanLater(InFlightBatch b, ArrayDeque<InFlightBatch> queue) {
        b.replan = true;
        if (!queue.contains(b)) {
            queue.add(b);
        }
    }

    /**
     * Plans an attempt at {@code b} and starts its engine call; a batch with nothing to run (an attempt after a failed
     * write, whose jobs already ran) goes straight to the writes.
     */
    private void attempt(InFlightBatch b, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events) {
        b.replan = false;
        Plan plan;
        try {
            plan = prepare(b, tx, events);
        } catch (RuntimeException e) {
            replanLater(b, toWrite); // planned again once the slot's next clients decide its partition is still its own
            throw e;
        }
        b.plan = plan;
        if (plan.toRun().isEmpty()) {
            toWrite.add(b);
            return;
        }
        PoolBatch batch = b.batch;
        BatchWork work = new BatchWork(batch.getBatchId(), settings.poolId(),
                batch.getInstance() >= 0 ? batch.getInstance() : index, plan.toRun(), batch.getEnginePriority());
        Map<String, SequenceWork> workByJob = new HashMap<>();
        Map<String, String> tenantByJob = new HashMap<>();
        for (SequenceWork w : plan.toRun()) {
            JobRequest job = plan.byId().get(w.jobId());
            if (job != null) {
                workByJob.put(w.jobId(), w);
                tenantByJob.put(w.jobId(), job.getTenant());
            }
        }
        TokenSink tokens = new PrefixStoringTokenSink(new JobTokenPublisher(events, attemptsOf(plan.live())), prefixCache,
                settings.poolId(), workByJob, tenantByJob, b.storedAtPrefill);
        b.engineBusy = true;
        try {
            engines.execute(() -> {
                try {
                    if (b.begin()) {
                        b.ran = backend.run(work, tokens);
                    }
                } catch (Throwable t) {
                    b.error = t;
                } finally {
                    b.end();
                    ended.add(b);
                    wake();
                }
            });
        } catch (RuntimeException e) {
            b.engineBusy = false;
            replanLater(b, toWrite);
            throw e;
        }
    }

    /**
     * Takes the batches whose engine calls ended: an orphan's frees its engine thread; an engine call that threw (a bug:
     * outcomes, even failed ones, are values) restarts the slot's clients, handing every batch in flight back.
     */
    private void takeEnded() {
        for (InFlightBatch b; (b = ended.poll()) != null;) {
            b.engineBusy = false;
            if (b.orphaned) {
                orphansRunning--;
                continue;
            }
            Throwable error = b.error;
            if (error != null) {
                // its partition is read again from what is committed, by whoever owns it next; the slot's other
                // partitions keep their batches if they come back to it unchanged
                orphan(b.tp, "an engine call failed");
                if (error instanceof RuntimeException re) {
                    throw re;
                }
                if (error instanceof Error err) {
                    throw err;
                }
                throw new IllegalStateException("engine call of batch " + b.batch.getBatchId() + " failed", error);
            }
            List<SequenceOutcome> ran = b.ran;
            List<SequenceWork> toRun = b.plan.toRun();
            for (int k = 0; k < ran.size(); k++) {
                b.retry.outcomes.put(toRun.get(k).jobId(), ran.get(k));
            }
            toWrite.add(b);
        }
    }

    /**
     * Writes the batches whose engine calls ended, each in its own transaction, on partitions this slot owns; those whose
     * partition's fate is undecided wait. A batch whose write failed is planned and written again (not run again).
     */
    private void writeEnded(KafkaConsumer<String, byte[]> c, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events)
            throws InterruptedException {
        for (int n = toWrite.size(); n > 0; n--) {
            InFlightBatch b = toWrite.poll();
            PartitionProgress p = progress.get(b.tp);
            if (p == null || !p.owned || undecided.contains(b.tp)) {
                toWrite.add(b); // its partition's fate is not decided yet
                continue;
            }
            if (b.replan) {
                attempt(b, tx, events);
                continue;
            }
            boolean written;
            try {
                written = write(b, p, c, tx);
            } catch (KafkaException e) {
                if (!b.retry.writeAgainAfter(e, tx)) {
                    replanLater(b, toWrite); // written again (not run again) if its partition comes back unchanged
                    // fenced, invalid transaction state, ...: this producer is unusable; the slot's loop closes every client
                    // (leaving the group, so the batches move on) and starts afresh
                    LOG.warn("pool {}: batch {} not committed ({}); its clients restart", settings.poolId(), b.batch.getBatchId(),
                            e.toString());
                    throw e;
                }
                written = false;
            } catch (RuntimeException e) {
                replanLater(b, toWrite);
                throw e;
            }
            if (written) {
                inFlight.remove(b);
                busyBatches.decrementAndGet();
                batchTimer.record(System.nanoTime() - b.startNanos, TimeUnit.NANOSECONDS);
            } else {
                attempt(b, tx, events); // a job's outcome could not be encoded, or the transaction failed: written again
            }
        }
    }

    private Properties txProps(String clientId, String txId) {
        Properties p = kafka.transactionalProducer(clientId, txId);
        p.put(org.apache.kafka.clients.producer.ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000"); // a missing reply topic fails fast
        return p;
    }

    /**
     * Sorts the batch's jobs for this attempt — skipped (claimed elsewhere), unwritable, late, live — claims the outcomes
     * known without the engine and announces the jobs to run ({@code running} events). Slot thread.
     */
    private Plan prepare(InFlightBatch b, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events) {
        PoolBatch batch = b.batch;
        BatchWriteRetry retry = b.retry;
        String owner = batch.getBatchId();
        long now = clock.millis();
        List<JobRequest> live = new ArrayList<>();
        List<JobRequest> failing = new ArrayList<>();
        List<JobEvent> terminal = new ArrayList<>();
        Map<String, JobRequest> byId = new java.util.HashMap<>();
        batch.getJobs().forEach(j -> byId.put(j.getJobId(), j));
        Map<String, TerminalClaims.Claim> claimed = claims.claimedAll(new ArrayList<>(byId.keySet()));
        List<JobRequest> late = new ArrayList<>();
        for (JobRequest job : batch.getJobs()) {
            TerminalClaims.Claim claim = claimed.get(job.getJobId());
            if (claim != null && !claim.owner().equals(owner)) {
                skipped.increment(); // cancelled, expired or finished elsewhere: never runs again
                continue;
            }
            if (retry.abandoned.contains(job.getJobId())) {
                continue;
            }
            if (!retry.failing.containsKey(job.getJobId())) {
                WriteFailure unwritable = resolveReplyTopic(tx, job, retry);
                if (unwritable != null) {
                    retry.failing.put(job.getJobId(), unwritable);
                }
            }
            if (retry.failing.containsKey(job.getJobId())) {
                failing.add(job);
                continue;
            }
            Long deadline = job.getDeadlineAtMs();
            if (deadline != null && deadline <= now) {
                late.add(job);
                continue;
            }
            live.add(job);
        }
        Map<String, JobStatus> lateClaims = new java.util.HashMap<>();
        late.forEach(job -> lateClaims.put(job.getJobId(), JobStatus.EXPIRED));
        failing.forEach(job -> lateClaims.put(job.getJobId(), JobStatus.FAILED));
        Map<String, TerminalClaims.Claim> lateWinners = lateClaims.isEmpty() ? Map.of() : claims.claimAll(lateClaims, owner);
        for (JobRequest job : late) {
            if (won(lateWinners.get(job.getJobId()), JobStatus.EXPIRED, owner)) {
                terminal.add(JobSnapshots.withError(onPool(JobSnapshots.fromRequest(job, JobStatus.EXPIRED, now), batch),
                        "invalid_request_error", "deadline_exceeded", "the job's deadline passed before it could start"));
            }
        }
        for (JobRequest job : failing) {
            TerminalClaims.Claim winner = lateWinners.get(job.getJobId());
            // this batch's own claim, whatever its status: an earlier attempt may have claimed the outcome it could not write
            if (winner != null && winner.owner().equals(owner)) {
                WriteFailure f = retry.failing.get(job.getJobId());
                terminal.add(JobSnapshots.withError(onPool(JobSnapshots.fromRequest(job, JobStatus.FAILED, now), batch),
                        f.replyTopic() ? "invalid_request_error" : "server_error", f.code(), f.message()));
            }
        }
        List<SequenceWork> plain = new ArrayList<>(live.size());
        List<String> tenants = new ArrayList<>(live.size());
        for (JobRequest job : live) {
            plain.add(toWork(job, 0));
            tenants.add(job.getTenant());
        }
        int[] cachedByJob = live.isEmpty() ? new int[0] : prefixCache.cachedPrefixTokens(settings.poolId(), tenants, plain,
                PrefixCacheHook.CarriedBlockHashes.of(batch, live));
        List<SequenceWork> work = new ArrayList<>(live.size());
        List<SequenceWork> toRun = new ArrayList<>();
        for (int i = 0; i < live.size(); i++) {
            JobRequest job = live.get(i);
            int cached = cachedByJob[i];
            work.add(cached == 0 ? plain.get(i) : toWork(job, Math.min(cached, plain.get(i).promptTokens())));
            if (retry.outcomes.containsKey(job.getJobId())) {
                continue; // ran in an earlier attempt whose write failed: its outcome stands
            }
            toRun.add(work.get(i));
            JobEvent runningEvent = onPool(JobSnapshots.fromRequest(job, JobStatus.RUNNING, clock.millis()), batch);
            events.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, job.getJobId(), eventSerde.encode(runningEvent)));
        }
        return new Plan(owner, now, live, terminal, byId, work, toRun);
    }

    /**
     * Writes the batch's outcomes — terminal events and results of the jobs whose claims it wins, jobs handed back to run
     * again — with the partition's new committed offset and metadata ({@link PartitionProgress#commitFor}) in one
     * transaction. Slot thread; the partition is this slot's.
     *
     * @return true when committed; false when a job's outcome could not be encoded (it now fails: the batch is written again)
     * @throws KafkaException when the transaction failed ({@link BatchWriteRetry#writeAgainAfter} decides what next)
     */
    private boolean write(InFlightBatch b, PartitionProgress p, KafkaConsumer<String, byte[]> c, KafkaProducer<String, byte[]> tx) {
        Plan plan = b.plan;
        PoolBatch batch = b.batch;
        BatchWriteRetry retry = b.retry;
        TopicPartition tp = b.tp;
        long offset = b.offset;
        String owner = plan.owner();
        long now = plan.now();
        List<JobRequest> live = plan.live();
        List<JobEvent> terminal = new ArrayList<>(plan.terminal());
        Map<String, JobRequest> byId = plan.byId();
        List<SequenceWork> work = plan.work();
        List<SequenceOutcome> outcomes = new ArrayList<>(live.size());
        live.forEach(job -> outcomes.add(retry.outcomes.get(job.getJobId())));
        List<JobRequest> handBack = new ArrayList<>();
        Map<String, JobStatus> outcomeClaims = new java.util.HashMap<>();
        for (int i = 0; i < outcomes.size(); i++) {
            JobRequest job = live.get(i);
            SequenceOutcome outcome = outcomes.get(i);
            if (outcome instanceof SequenceOutcome.Completed) {
                if (!b.storedAtPrefill.contains(job.getJobId())) { // a backend that did not report its prefill
                    prefixCache.stored(settings.poolId(), job.getTenant(), work.get(i));
                }
                outcomeClaims.put(job.getJobId(), JobStatus.SUCCEEDED);
            } else if (outcome instanceof SequenceOutcome.Failed f && !triesAgain(f.error(), job)) {
                outcomeClaims.put(job.getJobId(), JobStatus.FAILED);
            }
        }
        Map<String, TerminalClaims.Claim> winners = outcomeClaims.isEmpty() ? Map.of() : claims.claimAll(outcomeClaims, owner);
        for (int i = 0; i < outcomes.size(); i++) {
            JobRequest job = live.get(i);
            SequenceOutcome outcome = outcomes.get(i);
            long at = clock.millis();
            TerminalClaims.Claim winner = winners.get(job.getJobId());
            if (outcome instanceof SequenceOutcome.Completed done) {
                if (won(winner, JobStatus.SUCCEEDED, owner)) {
                    JobEvent e = onPool(JobSnapshots.fromRequest(job, JobStatus.SUCCEEDED, done.finishedAtMs()), batch);
                    Map<String, Long> times = new java.util.HashMap<>(e.getStateTimes());
                    times.put(JobStatus.RUNNING.apiName(), now);
                    if (done.firstTokenAtMs() != SequenceOutcome.Completed.UNKNOWN_FIRST_TOKEN) {
                        times.put(JobSnapshots.FIRST_TOKEN_TIME, done.firstTokenAtMs());
                    }
                    e.setStateTimes(times);
                    e.setOutput(done.text());
                    e.setFinishReason(done.finishReason());
                    e.setUsage(JobSnapshots.usage(done.promptTokens(), done.completionTokens(), done.cachedTokens()));
                    e.setToolCallsJson(done.toolCallsJson());
                    e.setLogprobsJson(done.logprobsJson());
                    terminal.add(e);
                    succeeded.increment();
                    promptTokens.increment(done.promptTokens());
                    completionTokens.increment(done.completionTokens());
                    cachedTokens.increment(done.cachedTokens());
                }
            } else if (outcome instanceof SequenceOutcome.Failed f) {
                InferenceError err = f.error();
                if (triesAgain(err, job)) {
                    handBack.add(JobRequest.newBuilder(job).setAttempt(job.getAttempt() + 1).build());
                    handedBack.increment();
                } else if (won(winner, JobStatus.FAILED, owner)) {
                    String msg = err.retriable() ? err.message() + " (gave up after " + (job.getAttempt() + 1) + " attempts)" : err.message();
                    terminal.add(JobSnapshots.withError(onPool(JobSnapshots.fromRequest(job, JobStatus.FAILED, at), batch),
                            err.type(), err.code(), msg));
                    failed.increment();
                }
            }
        }
        // encode everything first: an outcome that cannot be encoded fails its job instead of the whole batch
        List<ProducerRecord<String, byte[]>> records = new ArrayList<>();
        List<BatchWriteRetry.Sent> kinds = new ArrayList<>();
        for (JobEvent e : terminal) {
            String id = e.getJobId();
            WriteFailure f = retry.failing.get(id);
            String resultTopic = f != null && f.replyTopic() ? TopicCatalogue.RESULTS
                    : retry.replyTopics.getOrDefault(id, TopicCatalogue.RESULTS);
            ProducerRecord<String, byte[]> er;
            ProducerRecord<String, byte[]> rr;
            try {
                er = TerminalOutcomeWriter.eventRecord(e);
                rr = io.inferq.job.ResultRecords.record(resultTopic, e); // Avro or JSON, content-type and correlation headers
            } catch (RuntimeException x) {
                if (f == null) {
                    retry.failing.put(id, new WriteFailure(WriteFailure.RESULT_NOT_SERIALIZABLE, "the job's outcome could not be encoded ("
                            + x + ")", false, x.getClass().getName()));
                } else {
                    retry.abandoned.add(id);
                    abandonedJobs.increment();
                }
                LOG.error("pool {}: outcome of job {} not encodable; the batch is written again without it", settings.poolId(), id, x);
                return false;
            }
            records.add(er);
            kinds.add(new BatchWriteRetry.Sent(id, BatchWriteRetry.SentKind.EVENT, null));
            records.add(rr);
            kinds.add(new BatchWriteRetry.Sent(id, resultTopic.equals(TopicCatalogue.RESULTS) ? BatchWriteRetry.SentKind.RESULT : BatchWriteRetry.SentKind.REPLY, null));
            if (f != null && !retry.noDeadLetter.contains(id)) {
                JobRequest job = byId.get(id);
                records.add(f.deadLetter(job, requestSerde.encode(job), tp.topic(), tp.partition(), offset));
                kinds.add(new BatchWriteRetry.Sent(id, BatchWriteRetry.SentKind.DEAD_LETTER, null));
            }
        }
        for (JobRequest job : handBack) {
            String topic = job.getLane() == JobLane.BATCH.toWire() ? TopicCatalogue.REQUESTS_BATCH : TopicCatalogue.REQUESTS;
            byte[] value = requestSerde.encode(job);
            ProducerRecord<String, byte[]> handedBackRecord = new ProducerRecord<>(topic, job.getJobId(), value);
            origin.mark(handedBackRecord.headers(), TrustedOrigin.WORKER, value);
            records.add(handedBackRecord);
            kinds.add(new BatchWriteRetry.Sent(job.getJobId(), BatchWriteRetry.SentKind.HAND_BACK, null));
            JobEvent back = onPool(JobSnapshots.fromRequest(job, JobStatus.QUEUED, clock.millis()), batch);
            records.add(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, job.getJobId(), eventSerde.encode(back)));
            kinds.add(new BatchWriteRetry.Sent(job.getJobId(), BatchWriteRetry.SentKind.HAND_BACK, null));
        }
        retry.sends.clear();
        tx.beginTransaction();
        retry.transactionOpen = true;
        for (int i = 0; i < records.size(); i++) {
            BatchWriteRetry.Sent kind = kinds.get(i);
            java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> ack;
            try {
                ack = tx.send(records.get(i));
                retry.sends.add(new BatchWriteRetry.Sent(kind.jobId(), kind.kind(), ack));
            } catch (KafkaException x) {
                retry.sends.add(new BatchWriteRetry.Sent(kind.jobId(), kind.kind(), java.util.concurrent.CompletableFuture.failedFuture(x)));
                throw x;
            }
            if (retry.isolate) {
                awaitIsolated(ack, kind);
            }
        }
        OffsetAndMetadata commit = p.commitFor(offset);
        tx.sendOffsetsToTransaction(Map.of(tp, commit), c.groupMetadata());
        tx.commitTransaction();
        retry.transactionOpen = false;
        p.committed(offset, commit);
        for (JobEvent e : terminal) {
            if (retry.failing.containsKey(e.getJobId())) {
                failed.increment();
                unwritableJobs.increment();
            }
        }
        return true;
    }

    /**
     * In an isolated write ({@link BatchWriteRetry#isolate}), waits for one record's acknowledgement before the next is
     * sent; a refusal ends the attempt there (its record's own exception, read again by {@link BatchWriteRetry}).
     */
    private static void awaitIsolated(java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> ack,
                                      BatchWriteRetry.Sent kind) {
        try {
            ack.get(ISOLATED_ACK_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new KafkaException("record of job " + kind.jobId() + " (" + kind.kind() + ") refused", e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new org.apache.kafka.common.errors.TimeoutException("record of job " + kind.jobId() + " not acknowledged in "
                    + ISOLATED_ACK_TIMEOUT_MS + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new org.apache.kafka.common.errors.InterruptException(e);
        }
    }

    /** How long an isolated write waits for one record's acknowledgement. */
    static final long ISOLATED_ACK_TIMEOUT_MS = 30_000;

    /** Whether a job that failed with {@code error} is handed back to run again (else its failure is its outcome). */
    private boolean triesAgain(InferenceError error, JobRequest job) {
        return error.retriable() && job.getAttempt() + 1 < settings.maxAttempts();
    }

    /** Whether {@code winner} is this owner's claim of {@code status} (it won, or repeats its own earlier win). */
    private static boolean won(TerminalClaims.Claim winner, JobStatus status, String owner) {
        return winner != null && winner.status() == status && winner.owner().equals(owner);
    }

    /**
     * Where a Kafka job's result goes, remembered for the batch's attempts: its reply topic if it exists, else
     * {@code inferq.results} (a reply topic deleted after intake must not break the batch's transaction). Existence is
     * cached per slot.
     *
     * @return why no result can ever be written to the job's reply topic (Kafka's internal topics, an illegal name, a
     * topic the cluster refuses this worker), or null
     */
    private WriteFailure resolveReplyTopic(KafkaProducer<String, byte[]> tx, JobRequest job, BatchWriteRetry retry) {
        String replyTopic = job.getReplyTopic();
        if (!"kafka".equals(job.getSource()) || replyTopic == null || replyTopic.isBlank()) {
            return null;
        }
        WriteFailure refused = WriteFailure.replyTopicProblem(replyTopic);
        if (refused != null) {
            return refused;
        }
        if (knownReplyTopics.contains(replyTopic)) {
            retry.replyTopics.put(job.getJobId(), replyTopic);
            return null;
        }
        try {
            if (!tx.partitionsFor(replyTopic).isEmpty()) {
                knownReplyTopics.add(replyTopic);
                retry.replyTopics.put(job.getJobId(), replyTopic);
                return null;
            }
        } catch (org.apache.kafka.common.errors.InvalidTopicException | org.apache.kafka.common.errors.TopicAuthorizationException e) {
            return WriteFailure.classify(e, true);
        } catch (KafkaException e) {
            LOG.warn("pool {}: reply topic {} is not available ({}); result goes to {}", settings.poolId(), replyTopic,
                    e.toString(), TopicCatalogue.RESULTS);
        }
        retry.replyTopics.put(job.getJobId(), TopicCatalogue.RESULTS);
        return null;
    }

    private JobEvent onPool(JobEvent e, PoolBatch batch) {
        e.setPoolId(settings.poolId());
        e.setChip(settings.chip());
        e.setDispatchId(batch.getBatchId());
        Map<String, Long> times = new java.util.HashMap<>(e.getStateTimes());
        times.putIfAbsent(JobStatus.DISPATCHED.apiName(), batch.getCreatedAtMs());
        e.setStateTimes(times);
        return e;
    }

    private static Map<String, Integer> attemptsOf(List<JobRequest> jobs) {
        Map<String, Integer> attempts = new java.util.HashMap<>();
        jobs.forEach(j -> attempts.put(j.getJobId(), j.getAttempt()));
        return attempts;
    }

    private static SequenceWork toWork(JobRequest job, int cachedTokens) {
        List<SequenceWork.Message> messages = new ArrayList<>(job.getMessages().size());
        io.vertx.core.json.JsonArray extras = job.getMessageExtrasJson() == null ? null
                : new io.vertx.core.json.JsonArray(job.getMessageExtrasJson());
        for (int i = 0; i < job.getMessages().size(); i++) {
            ChatMessage m = job.getMessages().get(i);
            io.vertx.core.json.JsonObject x = extras != null && i < extras.size() && extras.getValue(i)
                    instanceof io.vertx.core.json.JsonObject o ? o : null;
            messages.add(x == null ? new SequenceWork.Message(m.getRole(), m.getContent())
                    : new SequenceWork.Message(m.getRole(), m.getContent(),
                            x.getJsonArray("tool_calls") == null ? null : x.getJsonArray("tool_calls").encode(),
                            x.getString("tool_call_id"), x.getString("name")));
        }
        int prompt = Math.max(job.getPromptTokens(), 1);
        return new SequenceWork(job.getJobId(), job.getModel(), messages, prompt, Math.max(1, job.getMaxTokens()),
                job.getTemperature(), Math.min(cachedTokens, prompt), job.getOptionsJson(), job.getStreamTokens());
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
