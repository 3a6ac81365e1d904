package io.inferq.dispatcher.runtime;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.KafkaPollLoop;
import io.inferq.broker.client.TopicFollower;
import io.inferq.job.JobLane;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.job.outcome.Backoff;
import io.inferq.job.outcome.DeadLetterHeaders;
import io.inferq.job.outcome.TerminalOutcomeWriter;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.Admission;
import io.inferq.dispatcher.BatchLaneYield;
import io.inferq.dispatcher.BatchPlan;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.QueuedJob;
import io.inferq.dispatcher.runtime.loop.DispatchLoop;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dispatcher's Kafka runtime around a {@link DispatchScheduler}: reads both request lanes, queues
 * each job, sends the scheduler's batches to pool topics, and follows {@code inferq.job-events} to
 * return credits and drop cancelled jobs.
 *
 * <p><b>Threading.</b> Deploy as a <em>worker</em> verticle: the scheduler and every map here are
 * confined to its context (one thread at a time). Request records are decoded and their prompts analysed
 * (tokenised and hashed, which may take milliseconds) on each lane's Kafka poll thread, then handed to the context
 * with {@code runOnContext}. The interactive lane's records go to the context at once; the batch lane's wait in a
 * backlog that the context drains {@link #INTAKE_CHUNK} records per task, posting the next part only after that one
 * ran, so an interactive job queues behind at most one part of a flood on the batch lane, never the whole poll. Job
 * events are decoded and filtered on their follower's thread: only those the dispatcher acts on (terminal, or handed
 * back by a worker) reach the context, one task per poll. Producer callbacks hand their results over with
 * {@code runOnContext} too.
 *
 * <p><b>Offsets.</b> A request record is done — and its offset committable — only after the batch
 * carrying it (or its expiry, or its dead-letter copy) is acknowledged by Kafka. Records are finished
 * out of order; {@link KafkaPollLoop} commits only below the lowest unfinished one. After a crash,
 * records not yet done are read again and may be dispatched twice; {@link TerminalClaims} keeps the
 * outcome single.
 *
 * <p><b>Credits.</b> A sent batch holds its pool credit until every job has left it ({@link InFlightBatches}): its
 * worker reported the job, or the job reached a terminal state elsewhere, or an audit every
 * {@value #AUDIT_PERIOD_MS} ms finds the job's terminal claim held by another owner (the worker skips such jobs and
 * writes nothing for them). Batch ids are unique per scheduler, so a restarted dispatcher's batches never share an
 * owner with an earlier incarnation's.
 *
 * <p><b>Failures.</b> A terminal event, result or dead-letter copy that Kafka does not acknowledge, and a terminal claim
 * that Hazelcast does not answer, are retried after 0.5 s, doubling to 30 s, with the request record undone meanwhile.
 *
 * <p><b>Bounded.</b> Each lane's poll loop holds at most {@code maxQueuedJobs / 2} undone records, so
 * the scheduler never exceeds its bound and excess work waits in Kafka. Should a rebalance hand back records the
 * scheduler still holds, the excess waits in a side queue (bounded by the same undone records) instead of failing.
 */
public final class DispatcherVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(DispatcherVerticle.class);

    /** The dead-letter copies' connector name ({@code __connect.errors.connector.name}). */
    private static final String DLQ_SOURCE_NAME = "inferq-dispatcher";

    private final DispatchScheduler scheduler;
    /** Paces the batch lane ({@link #withBatchLaneYield}); null: not paced. Context only. */
    private BatchLaneYield batchYield;
    /** The pace and cuts as last seen on the context, for the gauges (any thread). */
    private volatile double yieldPace = Double.POSITIVE_INFINITY;
    private volatile long yieldSampleMs = Long.MIN_VALUE;
    private volatile long yieldCuts;
    private final MeterRegistry registry;
    private final KafkaClientSettings kafka;
    private final Producer<String, byte[]> producer;
    /** Writes the batch lane's batches to pool topics (by default {@link #producer}); see {@link #batchLaneBatchesVia}. */
    private Producer<String, byte[]> batchLaneProducer;
    private final TerminalClaims claims;
    private final PromptAnalyzer analyzer;
    private final Clock clock;
    private final Function<ConsumerRecord<String, byte[]>, RequestDecoding.Result> decoder;
    private final AvroSerde<PoolBatch> batchSerde = new AvroSerde<>(PoolBatch.class);
    private final AvroSerde<JobEvent> eventSerde = new AvroSerde<>(JobEvent.class);
    /** Admission, queue, expiry, batch forming: the one dispatch loop (shared with the policy simulator). */
    private final DispatchLoop<Pending> dispatch;
    private final InFlightBatches inFlight = new InFlightBatches();
    private final Map<String, Integer> partitionCounts = new HashMap<>();
    private final Map<String, Integer> instancesByPool = new HashMap<>();
    private final Counter dlqCounter;
    private final Counter expiredCounter;
    private final Counter dispatchedCounter;
    private final Counter releasedByAudit;
    private final Counter writeRetries;
    private final Counter writesAbandoned;
    /** Terminal outcomes and dead-letter copies, written until acknowledged while this verticle runs (on its context). */
    private final TerminalOutcomeWriter outcomes;
    private final Counter refusedQuota;
    private boolean auditRunning;
    private volatile boolean running;
    private long wakeTimerId = -1;
    private KafkaPollLoop interactiveLoop;
    private KafkaPollLoop batchLoop;
    private TopicFollower events;
    /** Batch-lane parts handed over by its poll thread and not yet taken in (bounded by the loop's undone records). */
    private final java.util.concurrent.ConcurrentLinkedQueue<BacklogPart> batchBacklog =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Rebalances that took partitions from the batch lane's loop; written by its poll thread only. */
    private final java.util.concurrent.atomic.AtomicLong batchRevocations = new java.util.concurrent.atomic.AtomicLong();
    /**
     * The last of those rebalances {@link #dropRevoked} has applied on the context; parts handed over after a later
     * one wait until it is applied (else a partition that came back could be taken in, then dropped). Context only.
     */
    private long appliedBatchRevocations;
    /** Whether a task that drains {@link #batchBacklog} is posted on the context (or running). */
    private final java.util.concurrent.atomic.AtomicBoolean batchDrainPosted = new java.util.concurrent.atomic.AtomicBoolean();
    private long auditTimerId = -1;

    /**
     * A queued job's request and the record carrying it.
     *
     * @param viaKafka the job entered through Kafka (the dispatcher wrote its {@code queued} event): a refusal also
     *                 leaves a dead-letter copy naming the reason
     */
    private record Pending(JobRequest request, ConsumerRecord<String, byte[]> record, KafkaPollLoop loop, boolean viaKafka) {
        Pending(JobRequest request, ConsumerRecord<String, byte[]> record, KafkaPollLoop loop) {
            this(request, record, loop, false);
        }
    }

    /**
     * Longest wait between two decisions while anything waits on a timer: the next decision time is read from the
     * injected clock, which may jump (NTP, a test's clock), so a far wake-up is checked again at least this often.
     */
    static final long MAX_WAKE_DELAY_MS = 1_000;
    /** How often in-flight batches are audited against the terminal claims, and from what age. */
    static final long AUDIT_PERIOD_MS = 5_000;
    static final long AUDIT_AFTER_MS = 10_000;
    /** Jobs audited per pass, at most (one {@code claimedAll} round trip). */
    static final int AUDIT_LIMIT = 2_048;
    /** Retry delays of a failed write or claim: from this, doubling, up to {@link #RETRY_MAX_MS}. */
    static final long RETRY_MIN_MS = 500;
    static final long RETRY_MAX_MS = 30_000;

    /**
     * @param decoder turns a request record into a request, or a reason to dead-letter it
     */
    public DispatcherVerticle(DispatchScheduler scheduler, KafkaClientSettings kafka, Producer<String, byte[]> producer,
            TerminalClaims claims, PromptAnalyzer analyzer, Function<ConsumerRecord<String, byte[]>, RequestDecoding.Result> decoder,
            Clock clock, MeterRegistry registry) {
        this.scheduler = scheduler;
        this.registry = registry;
        this.kafka = kafka;
        this.producer = producer;
        this.batchLaneProducer = producer;
        scheduler.pools().forEach(p -> instancesByPool.put(p.poolId(), p.instances()));
        this.claims = claims;
        this.analyzer = analyzer;
        this.decoder = decoder;
        this.clock = clock;
        this.dlqCounter = registry.counter("inferq.dispatcher.dead_lettered");
        this.expiredCounter = registry.counter("inferq.dispatcher.expired");
        this.dispatchedCounter = registry.counter("inferq.dispatcher.batches_sent");
        this.releasedByAudit = registry.counter("inferq.dispatcher.audit_released_jobs");
        this.writeRetries = registry.counter("inferq.dispatcher.write_retries");
        this.writesAbandoned = registry.counter("inferq.dispatcher.writes_abandoned");
        this.outcomes = new TerminalOutcomeWriter(TerminalOutcomeWriter.Transport.of(r -> TerminalOutcomeWriter.send(producer, r),
                task -> context.runOnContext(v -> task.run()), (ms, task) -> vertx.setTimer(ms, t -> task.run())),
                new TerminalOutcomeWriter.Policy(new Backoff(RETRY_MIN_MS, RETRY_MAX_MS), Integer.MAX_VALUE),
                new TerminalOutcomeWriter.Listener() {
                    @Override
                    public void retrying(ProducerRecord<String, byte[]> record, Throwable cause, long delayMs) {
                        writeRetries.increment();
                    }

                    @Override
                    public void givenUp(ProducerRecord<String, byte[]> record, Throwable cause) {
                        writesAbandoned.increment();
                    }
                }, () -> running);
        this.refusedQuota = registry.counter("inferq.dispatcher.refused", "code", Admission.CODE_TENANT_QUOTA);
        // the poll loops hold at most maxQueuedJobs undone records together: that bounds the jobs held aside
        this.dispatch = new DispatchLoop<>(scheduler, new LoopEffects(), this::wakeAt,
                2 * Math.max(2, scheduler.config().maxQueuedJobs() / 2));
    }

    /** The dispatch loop's decisions, carried out over Kafka. Called on this verticle's context. */
    private final class LoopEffects implements DispatchLoop.Effects<Pending> {
        @Override
        public void send(BatchPlan plan, List<QueuedJob> jobs, List<Pending> handles, long nowMs) {
            DispatcherVerticle.this.send(plan, jobs, handles, nowMs);
        }

        @Override
        public void expired(QueuedJob job, Pending handle, long nowMs) {
            if (handle != null) {
                expire(handle, nowMs);
            }
        }

        @Override
        public void refused(QueuedJob job, Pending handle, Admission.Rejected why, long nowMs) {
            refuse(handle, why);
        }
    }

    /**
     * Asks for one decision at {@code atMs} (the scheduler's next decision time): one timer at a time, replaced by each
     * request. Decisions also run on every intake, finished batch and credit change, so there is no periodic poll.
     */
    private void wakeAt(long atMs) {
        if (vertx == null) {
            return;
        }
        if (wakeTimerId >= 0) {
            vertx.cancelTimer(wakeTimerId);
            wakeTimerId = -1;
        }
        if (atMs == Long.MAX_VALUE || !running) {
            return;
        }
        long delay = Math.max(1, Math.min(MAX_WAKE_DELAY_MS, atMs - clock.millis()));
        wakeTimerId = vertx.setTimer(delay, id -> {
            wakeTimerId = -1;
            dispatch.wake(clock.millis());
        });
    }

    /**
     * Writes the batch lane's batches through {@code bulk} (a second producer, so a second connection to the broker)
     * instead of the producer given at construction, which keeps the interactive lane's batches, every job event and
     * every outcome. A broker handles one request per connection at a time: with one producer an interactive batch
     * would wait behind the batch lane's records in flight. A batch's {@code dispatched} events are written after its
     * batch is acknowledged, whichever producer wrote it, so their order is unchanged. Call before deployment.
     *
     * @return this
     */
    public DispatcherVerticle batchLaneBatchesVia(Producer<String, byte[]> bulk) {
        this.batchLaneProducer = java.util.Objects.requireNonNull(bulk, "bulk");
        return this;
    }

    /**
     * Paces the batch lane by the interactive lane's intake delay ({@link BatchLaneYield}, setting
     * {@code dispatcher.batch-yield-delay-ms}): each interactive request that came through an ingress (not a client's
     * own Kafka producer, whose clock this dispatcher cannot vouch for) is one sample, from its record's creation time to
     * its intake on this verticle's context. Registers the gauge {@code inferq.dispatcher.batch.yield.pace} (batch-lane
     * jobs per second; -1 while not paced) and the counter {@code inferq.dispatcher.batch.yield.cuts}. Call before
     * deployment.
     *
     * @return this
     */
    public DispatcherVerticle withBatchLaneYield(BatchLaneYield yield) {
        this.batchYield = java.util.Objects.requireNonNull(yield, "yield");
        scheduler.yieldBatchLane(yield);
        io.micrometer.core.instrument.Gauge.builder("inferq.dispatcher.batch.yield.pace", this,
                        v -> v.yieldPace == Double.POSITIVE_INFINITY || v.clock.millis() - v.yieldSampleMs > BatchLaneYield.IDLE_MS
                                ? -1 : v.yieldPace)
                .description("batch-lane jobs per second the dispatcher lets go while interactive work is seen; -1: not paced")
                .register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("inferq.dispatcher.batch.yield.cuts", this, v -> v.yieldCuts)
                .description("halvings of the batch lane's pace on a rise of the interactive intake delay").register(registry);
        return this;
    }

    @Override
    public Future<?> start() {
        Context ctx = context;
        int perLane = Math.max(2, scheduler.config().maxQueuedJobs() / 2);
        interactiveLoop = new KafkaPollLoop("dispatcher-interactive", kafka.consumer("dispatcher-interactive", "inferq-dispatcher"),
                List.of(TopicCatalogue.REQUESTS), perLane, records -> handOver(ctx, prepare(records), interactiveLoop));
        batchLoop = new KafkaPollLoop("dispatcher-batch", kafka.consumer("dispatcher-batch", "inferq-dispatcher-batch"),
                List.of(TopicCatalogue.REQUESTS_BATCH), perLane, records -> handOverBatchLane(ctx, prepare(records)));
        AvroSerde<JobEvent> followerSerde = new AvroSerde<>(JobEvent.class); // the follower thread's own
        events = TopicFollower.batched("dispatcher-job-events", kafka, TopicCatalogue.JOB_EVENTS, TopicFollower.Start.END,
                records -> {
                    List<JobEvent> acted = actedOn(records, followerSerde);
                    if (!acted.isEmpty()) {
                        ctx.runOnContext(v -> onJobEvents(acted));
                    }
                });
        interactiveLoop.onRevoked(parts -> ctx.runOnContext(v -> dropRevoked(interactiveLoop, parts, 0)));
        batchLoop.onRevoked(parts -> {
            long generation = batchRevocations.incrementAndGet(); // parts handed over from now on are not affected
            ctx.runOnContext(v -> dropRevoked(batchLoop, parts, generation));
        });
        events.start();
        interactiveLoop.start();
        batchLoop.start();
        running = true;
        auditTimerId = vertx.setPeriodic(AUDIT_PERIOD_MS, id -> auditInFlight());
        return Future.succeededFuture();
    }

    /**
     * Reads the scheduler on this verticle's context, where it is confined (for the operator console). Any thread; the
     * read must be short (it runs between dispatch decisions).
     */
    public <T> Future<T> readScheduler(Function<DispatchScheduler, T> read) {
        Context ctx = context;
        if (ctx == null) {
            return Future.failedFuture(new IllegalStateException("the dispatcher has not started"));
        }
        io.vertx.core.Promise<T> p = io.vertx.core.Promise.promise();
        ctx.runOnContext(v -> {
            try {
                p.complete(read.apply(scheduler));
            } catch (RuntimeException e) {
                p.fail(e);
            }
        });
        return p.future();
    }

    /**
     * Engines' back-pressure, relayed from the worker processes: each named pool's batch credits become {@code share}
     * (0..1) of {@code instances × maxInFlightBatchesPerInstance}, rounded, at least 1 unless the share is 0 (every
     * instance inside its {@code Retry-After}). Batches in flight above the new limit are not recalled. Any thread.
     */
    public void applyEnginePressure(Map<String, Double> shareByPool) {
        Context ctx = context;
        if (ctx == null || shareByPool.isEmpty()) {
            return;
        }
        ctx.runOnContext(v -> {
            boolean changed = false;
            for (io.inferq.dispatcher.PoolProfile p : scheduler.pools()) {
                Double share = shareByPool.get(p.poolId());
                if (share == null) {
                    continue;
                }
                int max = p.instances() * scheduler.config().maxInFlightBatchesPerInstance();
                int credits = share <= 0 ? 0 : Math.max(1, (int) Math.round(Math.min(1.0, share) * max));
                scheduler.setBatchCredits(p.poolId(), credits);
                changed = true;
            }
            if (changed) {
                decide();
            }
        });
    }

    /** @return whether both intake consumers joined their groups and the job-events follower reached the topic's end */
    public boolean isReady() {
        return interactiveLoop != null && interactiveLoop.isReady() && batchLoop.isReady() && events.isCaughtUp();
    }

    /**
     * Batch-lane records of one partition waiting to be taken in, handed over before the batch loop's
     * {@code generation + 1}-th rebalance that revoked partitions.
     */
    private record BacklogPart(long generation, List<Prepared> records) {
        org.apache.kafka.common.TopicPartition partition() {
            ConsumerRecord<String, byte[]> first = records.get(0).record();
            return new org.apache.kafka.common.TopicPartition(first.topic(), first.partition());
        }
    }

    /** A request record decoded and its prompt analysed on its poll loop's thread, ready for the scheduler. */
    private record Prepared(ConsumerRecord<String, byte[]> record, RequestDecoding.Result decoded,
                            PromptAnalyzer.PromptShape shape) {
    }

    /**
     * Records taken in per context task: a poll of the batch lane (up to half the queue bound) waits in a backlog taken
     * in one part of at most this many records per task, each posted after the previous one ran, so the interactive
     * lane's intake, job events and producer callbacks that arrive meanwhile run between its parts.
     */
    static final int INTAKE_CHUNK = 64;

    /**
     * Decodes each record and analyses its prompt (tokenising and hashing: the CPU-heavy part of intake) on the calling
     * poll loop's thread, off the dispatcher's context, so a flood on one lane does not hold the context for the other.
     * Never throws: a record that cannot be decoded carries its rejection, a prompt that cannot be analysed the intake's
     * estimate.
     */
    private List<Prepared> prepare(List<ConsumerRecord<String, byte[]>> records) {
        List<Prepared> out = new ArrayList<>(records.size());
        for (ConsumerRecord<String, byte[]> record : records) {
            RequestDecoding.Result decoded;
            try {
                decoded = decoder.apply(record);
            } catch (RuntimeException e) {
                decoded = RequestDecoding.Result.reject(e.getClass().getName(), String.valueOf(e.getMessage()));
            }
            PromptAnalyzer.PromptShape shape = null;
            if (decoded instanceof RequestDecoding.Result.Accepted accepted) {
                try {
                    shape = analyzer.analyze(accepted.request());
                } catch (RuntimeException e) {
                    LOG.warn("job {}: prompt analysis failed, routing on the intake estimate: {}",
                            accepted.request().getJobId(), e.toString());
                    shape = PromptAnalyzer.ESTIMATE_ONLY.analyze(accepted.request());
                }
            }
            out.add(new Prepared(record, decoded, shape));
        }
        return out;
    }

    /** Hands prepared records to the context in parts of {@link #INTAKE_CHUNK}, all posted at once. Any thread. */
    private void handOver(Context ctx, List<Prepared> prepared, KafkaPollLoop loop) {
        for (int from = 0; from < prepared.size(); from += INTAKE_CHUNK) {
            List<Prepared> part = prepared.subList(from, Math.min(prepared.size(), from + INTAKE_CHUNK));
            ctx.runOnContext(v -> intake(part, loop));
        }
    }

    /**
     * Queues the batch lane's prepared records in parts of at most {@link #INTAKE_CHUNK} records of one partition each
     * (so a rebalance can drop a lost partition's parts whole, see {@link #dropRevoked}) and makes sure one drain task
     * is posted. Any thread.
     */
    private void handOverBatchLane(Context ctx, List<Prepared> prepared) {
        long generation = batchRevocations.get();
        int from = 0;
        for (int i = 1; i <= prepared.size(); i++) {
            if (i == prepared.size() || i - from == INTAKE_CHUNK
                    || prepared.get(i).record().partition() != prepared.get(from).record().partition()) {
                batchBacklog.add(new BacklogPart(generation, prepared.subList(from, i)));
                from = i;
            }
        }
        postBatchDrain(ctx);
    }

    /** Posts a task that drains {@link #batchBacklog} unless one is posted already or there is nothing to drain. */
    private void postBatchDrain(Context ctx) {
        if (!batchBacklog.isEmpty() && batchDrainPosted.compareAndSet(false, true)) {
            ctx.runOnContext(v -> drainBatchLane(ctx));
        }
    }

    /**
     * Takes in one part of the batch lane's backlog, then posts itself again behind whatever the context was given
     * meanwhile (an interactive job, job events, a producer callback). On the context.
     */
    private void drainBatchLane(Context ctx) {
        BacklogPart part = batchBacklog.peek();
        if (part != null && part.generation() > appliedBatchRevocations) {
            batchDrainPosted.set(false); // read after a rebalance not yet applied here: dropRevoked posts the drain
            return;
        }
        if (part != null) {
            batchBacklog.poll();
            intake(part.records(), batchLoop);
        }
        batchDrainPosted.set(false);
        postBatchDrain(ctx); // behind what was posted meanwhile; a part handed over concurrently may have posted it
    }

    private void intake(List<Prepared> records, KafkaPollLoop loop) {
        long now = clock.millis();
        for (Prepared prepared : records) {
            ConsumerRecord<String, byte[]> record = prepared.record();
            RequestDecoding.Result decoded = prepared.decoded();
            if (!(decoded instanceof RequestDecoding.Result.Accepted accepted)) {
                deadLetter(record, loop, ((RequestDecoding.Result.Rejected) decoded).why());
                continue;
            }
            if (batchYield != null && loop == interactiveLoop && accepted.acceptedEvent() == null
                    && record.timestampType() == org.apache.kafka.common.record.TimestampType.CREATE_TIME) {
                batchYield.interactiveIntake(now - record.timestamp(), now);
                yieldPace = batchYield.jobsPerSecond(now);
                yieldSampleMs = now;
                yieldCuts = batchYield.cuts();
            }
            JobRequest req = accepted.request();
            Pending queuedHere = dispatch.handle(req.getJobId());
            if (queuedHere != null || dispatch.isWaiting(req.getJobId())) {
                if (queuedHere != null && sameRecord(queuedHere.record(), record)) {
                    // the same record again (its partition was revoked and came back): the new delivery is the one
                    // the loop tracks now, and it is done only when the job is
                    dispatch.replaceHandle(req.getJobId(), new Pending(queuedHere.request(), record, loop, queuedHere.viaKafka()));
                } else {
                    loop.done(record); // another copy of a job already queued here; the first one carries it
                }
                continue;
            }
            if (accepted.acceptedEvent() != null) {
                // a job that entered through Kafka: its 'queued' event is written by the dispatcher
                producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, req.getJobId(), eventSerde.encode(accepted.acceptedEvent())));
            }
            PromptAnalyzer.PromptShape shape = prepared.shape();
            QueuedJob job = new QueuedJob(req.getJobId(), req.getTenant(), req.getModel(), JobLane.fromWire(req.getLane()),
                    shape.promptTokens(), Math.max(1, req.getMaxTokens()), now, req.getDeadlineAtMs(), shape.blockHashes());
            if (shape.promptTokens() != req.getPromptTokens()) {
                req = JobRequest.newBuilder(req).setPromptTokens(shape.promptTokens()).build();
            }
            Pending p = new Pending(req, record, loop, accepted.acceptedEvent() != null);
            // admission (quota, deadline, a pool that fits) then the queue; a full queue holds it aside (bounded by the
            // poll loops' undone records)
            dispatch.offer(job, p, now);
        }
        decide();
    }

    /**
     * Ends a job admission refused: a deadline its predicted wait misses ends {@code expired} with
     * {@code deadline_exceeded}; a tenant over its queued-token quota ends {@code failed} with
     * {@code tenant_quota_exceeded} (type {@code rate_limit_error}); a job no pool can run ends {@code failed} with
     * {@code not_runnable}. A job that entered through Kafka also gets a dead-letter copy naming the reason
     * ({@value #DLQ_ERROR_CODE}), besides the error result on its reply (or the results) topic. The record is done
     * once the outcome is durable.
     */
    private void refuse(Pending p, Admission.Rejected why) {
        long now = clock.millis();
        switch (why.code()) {
            case Admission.CODE_DEADLINE -> expire(p, now);
            case Admission.CODE_TENANT_QUOTA -> {
                JobRequest req = p.request();
                claimThen(req.getJobId(), JobStatus.FAILED, 0, won -> {
                    if (!won) {
                        p.loop().done(p.record());
                        return;
                    }
                    refusedQuota.increment();
                    JobEvent ev = JobSnapshots.withError(JobSnapshots.fromRequest(req, JobStatus.FAILED, now),
                            "rate_limit_error", Admission.CODE_TENANT_QUOTA, why.message());
                    publishTerminal(ev, () -> finishRefused(p, Admission.CODE_TENANT_QUOTA, why.message()));
                });
            }
            default -> finishUnrunnable(p.request(), p.record(), p.loop(), why.message());
        }
    }

    /** After a refusal's outcome is durable: the record is done, through a dead-letter copy if it came by Kafka. */
    private void finishRefused(Pending p, String code, String message) {
        if (p.viaKafka()) {
            deadLetter(p.record(), p.loop(), new DeadLetterHeaders.Failure(Admission.class.getName(), message, code));
        } else {
            p.loop().done(p.record());
        }
    }

    /**
     * Forgets the queued jobs read from partitions {@code loop} lost in a rebalance: their new owner reads them again
     * (they were never committed), so keeping them here would dispatch them twice.
     */
    private void dropRevoked(KafkaPollLoop loop, java.util.Collection<org.apache.kafka.common.TopicPartition> parts,
            long generation) {
        java.util.Set<org.apache.kafka.common.TopicPartition> lost = new java.util.HashSet<>(parts);
        if (loop == batchLoop) {
            // read before the rebalance and not taken in yet: never queued here, never done; the partition's new
            // owner reads them again (parts read after it, should the partition have come back, stay)
            batchBacklog.removeIf(part -> part.generation() < generation && lost.contains(part.partition()));
            appliedBatchRevocations = Math.max(appliedBatchRevocations, generation);
            postBatchDrain(context);
        }
        java.util.function.Predicate<Pending> fromLost = p -> p != null && p.loop() == loop
                && lost.contains(new org.apache.kafka.common.TopicPartition(p.record().topic(), p.record().partition()));
        int dropped = dispatch.withdrawIf((job, p) -> fromLost.test(p));
        if (dropped > 0) {
            LOG.info("{} queued job(s) of revoked partitions {} left to their new owner", dropped, lost);
        }
    }

    private static boolean sameRecord(ConsumerRecord<?, ?> a, ConsumerRecord<?, ?> b) {
        return a.offset() == b.offset() && a.partition() == b.partition() && a.topic().equals(b.topic());
    }

    private void decide() {
        dispatch.decide(clock.millis());
    }

    private void send(BatchPlan plan, List<QueuedJob> planned, List<Pending> carried, long now) {
        List<JobRequest> jobs = new ArrayList<>(carried.size());
        List<List<Long>> blockHashes = new ArrayList<>(carried.size());
        for (int i = 0; i < carried.size(); i++) {
            jobs.add(carried.get(i).request());
            blockHashes.add(planned.get(i).prefixBlockHashes());
        }
        if (jobs.isEmpty()) {
            scheduler.batchFinished(plan.poolId(), plan.batchId(), now, false);
            return;
        }
        PoolBatch batch = new PoolBatch(plan.batchId(), plan.poolId(), plan.bucketUpperTokens(), now, jobs,
                CarriedPromptBlocks.of(scheduler.config().prefixBlockTokens(), blockHashes), plan.instance(),
                plan.enginePriority().value());
        List<String> jobIds = new ArrayList<>(jobs.size());
        jobs.forEach(j -> jobIds.add(j.getJobId()));
        int streams = scheduler.config().maxInFlightBatchesPerInstance();
        int stream = inFlight.freeStream(plan.poolId(), plan.instance(), streams);
        inFlight.sent(plan.batchId(), plan.poolId(), plan.instance(), stream, jobIds, now);
        Context ctx = context;
        String topic = TopicCatalogue.poolTopic(plan.poolId());
        org.apache.kafka.clients.producer.Callback written = (md, ex) -> ctx.runOnContext(v -> {
                    if (ex != null) {
                        // not durable: put the jobs back so they are dispatched again
                        LOG.warn("batch {} to pool {} not written ({}); requeueing its jobs", plan.batchId(), plan.poolId(), ex.toString());
                        inFlight.forget(plan.batchId());
                        scheduler.batchFinished(plan.poolId(), plan.batchId(), clock.millis(), false);
                        for (int i = 0; i < planned.size(); i++) {
                            dispatch.requeue(planned.get(i), carried.get(i));
                        }
                        decide();
                        return;
                    }
                    dispatchedCounter.increment();
                    for (Pending p : carried) {
                        JobEvent dispatched = JobSnapshots.fromRequest(p.request(), JobStatus.DISPATCHED, now);
                        dispatched.setPoolId(plan.poolId());
                        dispatched.setDispatchId(plan.batchId());
                        try {
                            producer.send(new ProducerRecord<>(TopicCatalogue.JOB_EVENTS, p.request().getJobId(), eventSerde.encode(dispatched)));
                        } catch (RuntimeException e) {
                            // informational only (the worker writes running and the outcome); the batch is durable
                            LOG.warn("dispatched event of {} not sent: {}", p.request().getJobId(), e.toString());
                        }
                        p.loop().done(p.record());
                    }
                });
        Producer<String, byte[]> via = planned.get(0).lane() == JobLane.BATCH ? batchLaneProducer : producer;
        try {
            via.send(new ProducerRecord<>(topic, partitionFor(plan, stream, streams, topic), plan.batchId(),
                    batchSerde.encode(batch)), written);
        } catch (RuntimeException e) {
            written.onCompletion(null, e); // the producer refused it at once (buffer full, no metadata): requeued the same way
        }
    }

    /**
     * The pool-topic partition read by the worker slot of {@code stream} of the instance the scheduler planned the batch
     * for: the pool's workers run {@code instances × streams} slots, one per stream, and stream {@code k} of instance
     * {@code i} is stream {@code i × streams + k} of the pool ({@link BatchPlan#partitionOf}); so each batch in flight
     * on an instance has a slot of its own and enters the instance's engine at once. Null (the key's hash decides) if
     * the topic's partitions are unknown. The partition count is read once per topic from the producer's metadata
     * (this runs on a worker thread, so the first read may wait for it).
     */
    private Integer partitionFor(BatchPlan plan, int stream, int streams, String topic) {
        Integer partitions = partitionCounts.computeIfAbsent(topic, t -> {
            try {
                int n = producer.partitionsFor(t).size();
                return n > 0 ? n : null;
            } catch (org.apache.kafka.common.KafkaException e) {
                LOG.warn("partitions of {} unknown ({}); its batches are spread by key", t, e.toString());
                return null;
            }
        });
        Integer instances = instancesByPool.get(plan.poolId());
        return partitions == null || instances == null ? null
                : BatchPlan.partitionOf(plan.instance() * streams + stream, instances * streams, partitions);
    }

    /**
     * The events of one poll of {@code inferq.job-events} the dispatcher acts on: terminal ones, and a job handed back
     * by its worker ({@code queued} with a dispatch id). Decoded on the follower's thread with its own serde; a record
     * that cannot be decoded is logged and skipped (it can concern no batch of this dispatcher's).
     */
    private static List<JobEvent> actedOn(List<ConsumerRecord<String, byte[]>> records, AvroSerde<JobEvent> serde) {
        List<JobEvent> out = new ArrayList<>();
        for (ConsumerRecord<String, byte[]> record : records) {
            if (record.value() == null) {
                continue;
            }
            JobEvent e;
            try {
                e = serde.decode(record.value());
            } catch (RuntimeException ex) {
                LOG.warn("job event at {}-{}@{} not decoded, skipped: {}", record.topic(), record.partition(), record.offset(),
                        ex.toString());
                continue;
            }
            JobStatus s = JobStatus.fromWire(e.getStatus());
            if (s.isTerminal() || (s == JobStatus.QUEUED && e.getDispatchId() != null)) {
                out.add(e);
            }
        }
        return out;
    }

    /** Applies a poll's job events (see {@link #actedOn}), then decides once. On the context. */
    private void onJobEvents(List<JobEvent> polled) {
        List<InFlightBatches.Finished> finished = new ArrayList<>();
        for (JobEvent e : polled) {
            try {
                apply(e, finished);
            } catch (RuntimeException ex) { // as the per-record follower did: one event's failure skips that event only
                LOG.warn("job event of {} not applied: {}", e.getJobId(), ex.toString(), ex);
            }
        }
        release(finished);
    }

    /** One acted-on job event: a queued copy of the job leaves; a batch it ends or leaves goes to {@code finished}. */
    private void apply(JobEvent e, List<InFlightBatches.Finished> finished) {
        JobStatus s = JobStatus.fromWire(e.getStatus());
        if (s.isTerminal()) {
            // terminal anywhere (a cancel carries whatever dispatch id the view had, maybe a stale one): a copy
            // still queued here needs no more work, and a batch holding the job will never report it
            Pending p = s == JobStatus.CANCELLED ? dispatch.cancel(e.getJobId()) : dispatch.withdraw(e.getJobId());
            if (p != null) {
                p.loop().done(p.record()); // the terminal event is durable: the request needs no more work
            }
            // its first token (the worker's clock) tells, for the batch's last one, when the batch's prefill ended
            Long firstToken = e.getStateTimes().get(JobSnapshots.FIRST_TOKEN_TIME);
            finished.addAll(inFlight.terminal(e.getJobId(), s == JobStatus.SUCCEEDED,
                    firstToken == null ? Long.MIN_VALUE : firstToken));
        } else {
            InFlightBatches.Finished f = inFlight.left(e.getJobId(), e.getDispatchId()); // handed back by its worker
            if (f != null) {
                finished.add(f);
            }
        }
    }

    private void release(List<InFlightBatches.Finished> finished) {
        if (finished.isEmpty()) {
            return;
        }
        long now = clock.millis();
        for (InFlightBatches.Finished f : finished) {
            scheduler.batchFinished(f.poolId(), f.batchId(), now, f.ranAsEstimated(), f.prefilledAtMs());
        }
        decide();
    }

    /**
     * Jobs of batches in flight for {@value #AUDIT_AFTER_MS} ms or more whose terminal claim another owner holds will
     * never be reported by their batch's worker (it skips them): they leave the batch, so its credit comes back. One
     * {@code claimedAll} per pass, off the context; a failed pass is tried again at the next period.
     */
    private Future<Integer> auditInFlight() {
        if (auditRunning || inFlight.size() == 0) {
            return Future.succeededFuture(0);
        }
        Map<String, List<String>> due = inFlight.outstandingSince(clock.millis() - AUDIT_AFTER_MS, AUDIT_LIMIT);
        if (due.isEmpty()) {
            return Future.succeededFuture(0);
        }
        auditRunning = true;
        Context ctx = context;
        io.vertx.core.Promise<Integer> released = io.vertx.core.Promise.promise();
        vertx.executeBlocking(() -> claims.claimedAll(due.keySet()), false).onComplete(ar -> ctx.runOnContext(v -> {
            auditRunning = false;
            if (ar.failed()) {
                LOG.warn("in-flight audit: claims not read ({}); next try in {} ms", ar.cause().toString(), AUDIT_PERIOD_MS);
                released.complete(0);
                return;
            }
            int n = 0;
            List<InFlightBatches.Finished> finished = new ArrayList<>();
            for (Map.Entry<String, TerminalClaims.Claim> c : ar.result().entrySet()) {
                for (String batchId : due.getOrDefault(c.getKey(), List.of())) {
                    if (!c.getValue().owner().equals(batchId)) {
                        n++;
                        InFlightBatches.Finished f = inFlight.left(c.getKey(), batchId);
                        if (f != null) {
                            finished.add(f);
                        }
                    }
                }
            }
            releasedByAudit.increment(n);
            release(finished);
            released.complete(n);
        }));
        return released.future();
    }

    /** Runs an audit of the in-flight batches now, on this verticle's context (tests); answers the jobs it released. */
    Future<Integer> auditNow() {
        io.vertx.core.Promise<Integer> done = io.vertx.core.Promise.promise();
        context.runOnContext(v -> auditInFlight().onComplete(done));
        return done.future();
    }

    private void expire(Pending p, long now) {
        JobRequest req = p.request();
        claimThen(req.getJobId(), JobStatus.EXPIRED, 0, won -> {
            if (!won) {
                p.loop().done(p.record()); // already terminal elsewhere (cancelled): nothing to run
                return;
            }
            expiredCounter.increment();
            JobEvent ev = JobSnapshots.withError(JobSnapshots.fromRequest(req, JobStatus.EXPIRED, now),
                    "invalid_request_error", "deadline_exceeded",
                    "the job could not start before its deadline; predicted wait exceeded it");
            publishTerminal(ev, () -> p.loop().done(p.record()));
        });
    }

    private void finishUnrunnable(JobRequest req, ConsumerRecord<String, byte[]> record, KafkaPollLoop loop, String why) {
        long now = clock.millis();
        claimThen(req.getJobId(), JobStatus.FAILED, 0, won -> {
            if (!won) {
                loop.done(record);
                return;
            }
            JobEvent ev = JobSnapshots.withError(JobSnapshots.fromRequest(req, JobStatus.FAILED, now),
                    "invalid_request_error", "not_runnable", why);
            publishTerminal(ev, () -> loop.done(record));
        });
    }

    /**
     * Claims {@code terminal} for the dispatcher (off the context), then calls {@code then} on the context with whether
     * the claim won. A claim store that does not answer is asked again after a growing delay: the record stays undone
     * meanwhile, so the job is neither lost nor given an outcome twice.
     */
    private void claimThen(String jobId, JobStatus terminal, int attempt, java.util.function.Consumer<Boolean> then) {
        Context ctx = context;
        vertx.executeBlocking(() -> claims.tryClaim(jobId, terminal, "dispatcher"), false)
                .onComplete(ar -> ctx.runOnContext(v -> {
                    if (ar.succeeded()) {
                        then.accept(ar.result());
                        return;
                    }
                    long delay = retryDelay(attempt);
                    LOG.warn("{} claim of {} not taken ({}); trying again in {} ms", terminal.apiName(), jobId, ar.cause().toString(), delay);
                    writeRetries.increment();
                    vertx.setTimer(delay, t -> claimThen(jobId, terminal, attempt + 1, then));
                }));
    }

    static long retryDelay(int attempt) {
        return Math.min(RETRY_MAX_MS, RETRY_MIN_MS << Math.min(attempt, 16));
    }

    /**
     * Writes a terminal event and its result ({@link TerminalOutcomeWriter}, until acknowledged while this verticle
     * runs); {@code whenDurable} runs on the context once both are acknowledged or given up for good.
     */
    private void publishTerminal(JobEvent ev, Runnable whenDurable) {
        outcomes.write(ev).thenRun(whenDurable);
    }

    /**
     * Copies a refused record to {@value TopicCatalogue#REQUESTS_DLQ} — same key, value and headers
     * (except {@code inferq-api-key} and the origin signature, which are never copied) — plus the error
     * headers of both common conventions, so Kafka Connect and Spring Kafka tooling read them unchanged:
     * Connect's {@code __connect.errors.*} (UTF-8 strings) and Spring's {@code kafka_dlt-*} (topic and
     * texts UTF-8; partition a 4-byte and offset/timestamp 8-byte big-endian integers, as Spring writes
     * them), and {@code inferq-error-code} ({@link DeadLetterHeaders}). The record is done (its offset committable) only once
     * the copy is acknowledged; a failed copy is written again ({@link TerminalOutcomeWriter#deliver}) and the record stays
     * undone meanwhile.
     */
    private void deadLetter(ConsumerRecord<String, byte[]> record, KafkaPollLoop loop, DeadLetterHeaders.Failure why) {
        ProducerRecord<String, byte[]> dlq = new ProducerRecord<>(TopicCatalogue.REQUESTS_DLQ, null, record.key(), record.value());
        record.headers().forEach(h -> {
            if (DeadLetterHeaders.copied(h.key())) {
                dlq.headers().add(h);
            }
        });
        DeadLetterHeaders.add(dlq.headers(), new DeadLetterHeaders.Source(record.topic(), record.partition(), record.offset(),
                record.timestamp(), record.timestampType().toString(),
                loop == batchLoop ? "inferq-dispatcher-batch" : "inferq-dispatcher", DLQ_SOURCE_NAME, "VALUE_CONVERTER",
                decoder.getClass().getName()), why);
        outcomes.deliver(dlq).thenRun(() -> {
            dlqCounter.increment();
            loop.done(record);
            // a producer waiting on its reply topic learns of the refusal too (best effort: the DLQ copy is the record)
            io.inferq.dispatcher.runtime.contract.RejectionReply.of(record, new RequestDecoding.Result.Rejected(why)).ifPresent(reply -> {
                try {
                    producer.send(reply, (md, ex) -> {
                        if (ex != null) {
                            LOG.warn("refusal of {}-{}@{} not sent to reply topic {}: {}", record.topic(), record.partition(),
                                    record.offset(), reply.topic(), ex.toString());
                        }
                    });
                } catch (RuntimeException e) {
                    LOG.warn("refusal of {}-{}@{} not sent to reply topic {}: {}", record.topic(), record.partition(),
                            record.offset(), reply.topic(), e.toString());
                }
            });
        });
    }

    @Override
    public Future<?> stop() {
        if (running) {
            running = false;
            vertx.cancelTimer(auditTimerId);
            if (wakeTimerId >= 0) {
                vertx.cancelTimer(wakeTimerId);
                wakeTimerId = -1;
            }
        }
        // stop reading; records not yet dispatched stay uncommitted and are read again after a restart
        if (interactiveLoop != null) {
            interactiveLoop.close();
            batchLoop.close();
        }
        if (events != null) {
            events.close();
        }
        return Future.succeededFuture();
    }
}
