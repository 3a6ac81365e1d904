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
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One slot of a pool: a thread that polls one batch at a time, runs it on the backend and publishes
 * its results, events and consumed offset in one Kafka transaction (read-process-write exactly-once).
 * All Kafka clients are confined to the slot thread; the engine call runs on a thread of its own while the slot
 * thread keeps polling with its partitions paused, so a long generation never costs the slot its lease.
 *
 * <p><b>Write failures.</b> A job whose outcome can never be written (its reply topic is internal, invalid or not
 * authorised; its result is too large or cannot be encoded) fails alone — a {@code failed} outcome with a
 * {@link WriteFailure} code and a dead-letter copy — and the batch's other jobs are written as they ended, without
 * running on the engine again. Transient failures are retried with backoff and a limit ({@link #MAX_WRITE_ATTEMPTS}).
 * A batch therefore never stalls its pool because of one job.
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
    /** The batch being written and what its failed attempts taught (slot thread only). */
    private BatchWriteRetry retry;
    private final Timer batchTimer;
    private final Counter promptTokens;
    private final Counter completionTokens;
    private final Counter cachedTokens;
    private final java.util.concurrent.atomic.AtomicInteger busySlots;
    private volatile boolean ready;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;
    /** Runs the engine call of the current batch, while the slot thread keeps polling (paused) to hold its lease. */
    private java.util.concurrent.ExecutorService engineRunner;
    /** Partitions revoked since it was last cleared; slot thread only (the consumer calls it from poll). */
    private RebalanceWatch rebalances = new RebalanceWatch();

    private static final class RebalanceWatch implements org.apache.kafka.clients.consumer.ConsumerRebalanceListener {
        final java.util.Set<TopicPartition> revoked = new java.util.HashSet<>();
        /** The group has given this consumer an assignment (possibly empty) and not taken its membership away since. */
        boolean member;

        @Override
        public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
            revoked.addAll(partitions);
        }

        @Override
        public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
            member = true;
        }

        @Override
        public void onPartitionsLost(java.util.Collection<TopicPartition> partitions) {
            revoked.addAll(partitions);
            member = false;
        }
    }
    /** How often the slot polls Kafka (every partition paused) while its engine call runs. */
    static final long LEASE_POLL_MS = 1_000;
    /** Failed attempts at writing a batch before the jobs whose results go to reply topics fail ({@code result_write_failed}). */
    static final int MAX_WRITE_ATTEMPTS = 5;
    /** Delay before writing a batch again after a transient failure: from this, doubling, up to {@link #WRITE_RETRY_MAX_MS}. */
    static final long WRITE_RETRY_MIN_MS = 200;
    static final long WRITE_RETRY_MAX_MS = 5_000;
    static final Backoff WRITE_BACKOFF = new Backoff(WRITE_RETRY_MIN_MS, WRITE_RETRY_MAX_MS);

    WorkerSlot(PoolWorkerSettings settings, int index, KafkaClientSettings kafka, InferenceBackend backend,
            TerminalClaims claims, PrefixCacheHook prefixCache, TrustedOrigin origin, Clock clock, MeterRegistry registry,
            java.util.concurrent.atomic.AtomicInteger busy) {
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
        this.batchTimer = registry.timer("inferq.worker.batch.duration", "pool", pool);
        this.promptTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "prompt");
        this.completionTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "completion");
        this.cachedTokens = registry.counter("inferq.worker.tokens", "pool", pool, "kind", "cached");
        this.busySlots = busy;
        this.retry = newRetry(null);
    }

    private BatchWriteRetry newRetry(String batchId) {
        return new BatchWriteRetry(batchId, settings.poolId(), writeRetries, abandonedJobs);
    }

    void start() {
        engineRunner = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "worker-" + settings.poolId() + "-" + index + "-engine");
            t.setDaemon(true);
            return t;
        });
        running.set(true);
        thread = new Thread(this::run, "worker-" + settings.poolId() + "-" + index);
        thread.setDaemon(true);
        thread.start();
    }

    boolean isReady() {
        return ready;
    }

    void requestStop() {
        running.set(false);
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    void awaitStop() {
        try {
            thread.join(30_000);
            if (thread.isAlive()) {
                thread.interrupt(); // past the grace period: hand the batch back uncommitted
                thread.join(10_000);
            }
            engineRunner.shutdownNow();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        String clientId = "worker-" + settings.poolId() + "-" + settings.processId() + "-" + index;
        Properties cp = kafka.consumer(clientId, "inferq.pool." + settings.poolId() + ".workers");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
        // range: each slot owns one block of partitions, and the dispatcher sends each batch it planned for an instance
        // to the first partition of the block of one of that instance's streams (BatchPlan.partitionOf): a batch in
        // flight never queues behind another on a slot while the instance has a free stream
        cp.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, org.apache.kafka.clients.consumer.RangeAssignor.class.getName());
        cp.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, String.valueOf(settings.leaseMs()));
        cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(settings.sessionTimeoutMs()));
        cp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, String.valueOf(settings.sessionTimeoutMs() / 3));
        String txId = "inferq-worker-" + settings.poolId() + "-" + settings.processId() + "-" + index;
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
                    KafkaProducer<String, byte[]> tx = new KafkaProducer<>(txProps(clientId, txId),
                            new StringSerializer(), new ByteArraySerializer());
                    KafkaProducer<String, byte[]> events = new KafkaProducer<>(kafka.producer(clientId + "-events"),
                            new StringSerializer(), new ByteArraySerializer())) {
                consumer = c;
                tx.initTransactions();
                try {
                    events.partitionsFor(TopicCatalogue.JOB_TOKENS); // so a streamed piece never waits for metadata
                } catch (RuntimeException e) {
                    LOG.warn("metadata of {} not read: {}", TopicCatalogue.JOB_TOKENS, e.toString());
                }
                rebalances = new RebalanceWatch();
                c.subscribe(List.of(TopicCatalogue.poolTopic(settings.poolId())), rebalances);
                while (running.get()) {
                    var records = c.poll(Duration.ofMillis(200));
                    ready = canRead(c);
                    for (ConsumerRecord<String, byte[]> record : records) {
                        handle(record, c, tx, events);
                    }
                }
            } catch (WakeupException e) {
                // stop requested
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                LOG.warn("slot {} of pool {} interrupted: batch handed back uncommitted", index, settings.poolId());
                return;
            } catch (ProducerFencedException e) {
                LOG.error("slot {} of pool {} fenced by a newer incarnation; stopping", index, settings.poolId());
                ready = false; // a stopped slot must not count as ready in /ready
                return;
            } catch (RuntimeException e) {
                ready = false;
                LOG.error("slot {} of pool {} failed; restarting its clients in 1 s", index, settings.poolId(), e);
                sleepQuietly(1000);
            } finally {
                consumer = null;
            }
        }
        ready = false;
    }

    /**
     * Whether this slot can take work: it is a member of the pool's group and knows where to read every partition it owns.
     * A partition whose start offset cannot be fetched — e.g. its committed offset sits in a transaction that never ends
     * ({@code UNSTABLE_OFFSET_COMMIT}), where the consumer waits for it forever — makes the slot not ready, so {@code /ready}
     * shows the stalled pool instead of a slot that polls nothing. Slot thread only; never waits (a zero timeout: a position not
     * known yet is asked for, and the next poll goes on fetching it).
     */
    private boolean canRead(KafkaConsumer<String, byte[]> c) {
        if (!rebalances.member) {
            return false;
        }
        for (TopicPartition tp : c.assignment()) {
            try {
                c.position(tp, Duration.ZERO);
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                return false;
            }
        }
        return true;
    }

    /**
     * Runs the batch on the engine on {@link #engineRunner} while this thread polls Kafka every {@value #LEASE_POLL_MS}
     * ms with every assigned partition paused: the group keeps the slot (a long generation is not taken for a dead
     * slot, which would run the batch a second time elsewhere), and no record is fetched meanwhile. A partition assigned
     * by a rebalance during the call is paused too; a record polled from it anyway is sought back, so it is read again.
     * Interrupted (shutdown past its grace period): the engine call is interrupted and the batch handed back.
     */
    private List<SequenceOutcome> runKeepingLease(KafkaConsumer<String, byte[]> c, BatchWork work,
            io.inferq.workers.backend.TokenSink tokens) throws InterruptedException {
        java.util.concurrent.Future<List<SequenceOutcome>> call = engineRunner.submit(() -> backend.run(work, tokens));
        c.pause(c.assignment());
        try {
            while (true) {
                try {
                    return call.get(LEASE_POLL_MS, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    c.pause(c.assignment());
                    org.apache.kafka.clients.consumer.ConsumerRecords<String, byte[]> stray;
                    try {
                        stray = c.poll(Duration.ZERO);
                    } catch (org.apache.kafka.common.errors.WakeupException stop) {
                        continue; // a stop: let the engine call finish within the grace period, then commit
                    }
                    for (TopicPartition tp : stray.partitions()) {
                        c.seek(tp, stray.records(tp).get(0).offset());
                        c.pause(List.of(tp));
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof InterruptedException ie) {
                        throw ie;
                    }
                    if (cause instanceof RuntimeException re) {
                        throw re;
                    }
                    if (cause instanceof Error err) {
                        throw err;
                    }
                    throw new IllegalStateException(cause);
                }
            }
        } finally {
            call.cancel(true);
            c.resume(c.paused());
        }
    }

    private Properties txProps(String clientId, String txId) {
        Properties p = kafka.transactionalProducer(clientId, txId);
        p.put(org.apache.kafka.clients.producer.ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000"); // a missing reply topic fails fast
        return p;
    }

    private void handle(ConsumerRecord<String, byte[]> record, KafkaConsumer<String, byte[]> c,
            KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events) throws InterruptedException {
        TopicPartition tp = new TopicPartition(record.topic(), record.partition());
        PoolBatch batch;
        try {
            batch = batchSerde.decode(record.value());
        } catch (AvroSerde.AvroDecodeException e) {
            LOG.error("pool {}: undecodable batch at {}-{}@{} skipped: {}", settings.poolId(), record.topic(),
                    record.partition(), record.offset(), e.getMessage());
            commitOffsetOnly(tx, c, tp, record.offset());
            return;
        }
        if (!batch.getBatchId().equals(retry.batchId)) {
            retry = newRetry(batch.getBatchId());
        }
        long start = System.nanoTime();
        busySlots.incrementAndGet();
        try {
            if (runBatch(batch, tx, events, c, tp, record.offset())) {
                retry = newRetry(null);
            } else {
                c.seek(tp, record.offset()); // a job's outcome could not be encoded: it fails, the batch is written again
            }
        } catch (KafkaException e) {
            if (!retry.writeAgainAfter(e, tx)) {
                // fenced, invalid transaction state, ...: this producer is unusable; the slot's loop
                // closes every client (leaving the group, so the batch moves on) and starts afresh
                LOG.warn("pool {}: batch {} not committed ({}); its clients restart", settings.poolId(), batch.getBatchId(), e.toString());
                throw e;
            }
            c.seek(tp, record.offset());
        } finally {
            busySlots.decrementAndGet();
        }
        batchTimer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }

    /** @return true when the batch is committed (or left to another slot); false when it must be run again at once */
    private boolean runBatch(PoolBatch batch, KafkaProducer<String, byte[]> tx, KafkaProducer<String, byte[]> events,
            KafkaConsumer<String, byte[]> c, TopicPartition tp, long offset) throws InterruptedException {
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
                WriteFailure unwritable = resolveReplyTopic(tx, job);
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
        rebalances.revoked.clear();
        List<SequenceOutcome> ran = toRun.isEmpty() ? List.of()
                : runKeepingLease(c, new BatchWork(batch.getBatchId(), settings.poolId(),
                        batch.getInstance() >= 0 ? batch.getInstance() : index, toRun, batch.getEnginePriority()),
                        new JobTokenPublisher(events, attemptsOf(live)));
        for (int k = 0; k < ran.size(); k++) {
            retry.outcomes.put(toRun.get(k).jobId(), ran.get(k));
        }
        List<SequenceOutcome> outcomes = new ArrayList<>(live.size());
        live.forEach(job -> outcomes.add(retry.outcomes.get(job.getJobId())));
        boolean handedOver = rebalances.revoked.contains(tp);
        if (handedOver && !stillOurs(c, tp, offset)) {
            // a rebalance during the engine call gave the batch's partition to another slot, which runs the batch (or
            // already has): publishing here too would give its jobs a second outcome under the same batch id
            LOG.info("pool {}: batch {} moved to another slot during its engine call; its outcome is left to that slot",
                    settings.poolId(), batch.getBatchId());
            return true;
        }
        List<JobRequest> handBack = new ArrayList<>();
        Map<String, JobStatus> outcomeClaims = new java.util.HashMap<>();
        for (int i = 0; i < outcomes.size(); i++) {
            JobRequest job = live.get(i);
            SequenceOutcome outcome = outcomes.get(i);
            if (outcome instanceof SequenceOutcome.Completed) {
                prefixCache.stored(settings.poolId(), job.getTenant(), work.get(i));
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
                    times.put("first_token", done.firstTokenAtMs());
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
            try {
                retry.sends.add(new BatchWriteRetry.Sent(kind.jobId(), kind.kind(), tx.send(records.get(i))));
            } catch (KafkaException x) {
                retry.sends.add(new BatchWriteRetry.Sent(kind.jobId(), kind.kind(), java.util.concurrent.CompletableFuture.failedFuture(x)));
                throw x;
            }
        }
        tx.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(offset + 1)), c.groupMetadata());
        tx.commitTransaction();
        retry.transactionOpen = false;
        for (JobEvent e : terminal) {
            if (retry.failing.containsKey(e.getJobId())) {
                failed.increment();
                unwritableJobs.increment();
            }
        }
        if (handedOver) {
            c.seek(tp, offset + 1); // reassigned to this slot, its position went back to the batch: do not read it again
        }
        return true;
    }

    /**
     * After a rebalance during the engine call: whether the batch's partition is this slot's again and nobody committed
     * past the batch meanwhile (so no other slot finished it). One round trip to the group coordinator.
     */
    private static boolean stillOurs(KafkaConsumer<String, byte[]> c, TopicPartition tp, long offset) {
        if (!c.assignment().contains(tp)) {
            return false;
        }
        OffsetAndMetadata committed = c.committed(java.util.Set.of(tp), Duration.ofSeconds(10)).get(tp);
        return committed == null || committed.offset() <= offset;
    }

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
    private WriteFailure resolveReplyTopic(KafkaProducer<String, byte[]> tx, JobRequest job) {
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

    private void commitOffsetOnly(KafkaProducer<String, byte[]> tx, KafkaConsumer<String, byte[]> c, TopicPartition tp, long offset) {
        tx.beginTransaction();
        tx.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(offset + 1)), c.groupMetadata());
        tx.commitTransaction();
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
