package io.inferq.ingress.webhooks;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.ConsumerThread;
import io.inferq.broker.client.GroupMembership;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.TopicFollower;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.webhooks.DeliveryLog.Tracked;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.DoubleSupplier;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers job webhooks (Standard Webhooks 1.0) durably: every delivery's state lives in the compacted topic
 * {@code inferq.webhook-deliveries} (JSON, keyed by the {@code webhook-id}), so pending retries survive a
 * restart, and exhausted ones go to {@code inferq.webhook-deliveries.dlq} and stay listable and replayable.
 *
 * <h2>Life of a delivery</h2>
 * <ol>
 *   <li>A job snapshot calls for an event ({@link WebhookEventType#select}): a {@code PENDING} record (version 1,
 *       {@code acks=all}) is written unless one with that id is known. In a server this is {@link DeliveryCreator}, a
 *       consumer of {@code inferq.job-events} ({@link #createFrom}) that commits an event only after its delivery
 *       record is acknowledged, so every event yields its delivery after any crash; {@link #onJobChanged} is the
 *       direct (best-effort) way in.</li>
 *   <li>The process that owns the record's partition (consumer group {@code groupId}) sends it when due:
 *       2xx → {@code DELIVERED} (a small marker without payload, deleted after {@code creationHorizon});
 *       another status, a redirect, a timeout, a DNS or connection error → {@code PENDING} again with the next
 *       time from {@link RetrySchedule} (Retry-After honoured); schedule exhausted → {@code FAILED} + DLQ record;
 *       {@code 410 Gone} → the endpoint (tenant + URL) is disabled, durably, and this and later deliveries to it
 *       fail at once; a forbidden target (SSRF check after DNS) fails at once.</li>
 *   <li>{@code POST /v1/webhooks/deliveries/{id}/replay} ({@link WebhookApi}) puts a {@code FAILED} delivery back
 *       to {@code PENDING} with attempts reset and the same id, and re-enables its endpoint.</li>
 * </ol>
 *
 * <h2>Several processes</h2>
 * Every process reads the whole delivery topic (to know which ids exist, and to answer the API); only the
 * owner of a partition sends its deliveries. A delivery is created by the process that reads its job event in the
 * creators' group; a repeat after a crash or a rebalance duplicates the version-1 record, which is harmless because readers keep the highest version, and an owner that
 * sees an older version land after the current one rewrites the current one so compaction keeps it. Delivery
 * is at-least-once: after a crash, or when a partition moves in the middle of an attempt, an attempt can be
 * repeated, always with the same {@code webhook-id} (receivers dedupe on it).
 *
 * <h2>Restart and history</h2>
 * The job view is rebuilt from the beginning of {@code inferq.job-events} at every start, so old snapshots are
 * offered again: a delivered delivery is therefore kept as a marker rather than deleted, and snapshots whose
 * state is older than {@code creationHorizon} create nothing.
 *
 * <h2>Threading and bounds</h2>
 * All state changes happen on one Vert.x context; Kafka reads run on two own threads (state reader, group
 * membership) and hand off with {@code runOnContext}; producer sends run on worker threads in order; DNS runs on
 * worker threads. {@link #onJobChanged} may be called from any thread; it blocks only when {@code maxPending}
 * creations are already waiting (back-pressure on the materializer, at most 30 s, then the event is dropped
 * with an error). At most {@code maxConcurrent} attempts are in flight. When {@code maxPending} pending and
 * failed deliveries are in memory the state reader pauses: further deliveries stay in Kafka and are read once
 * deliveries settle. {@link #start} and {@link #isReady} are non-blocking; {@link #close} blocks (Kafka
 * shutdown), never call it on an event loop.
 */
public final class WebhookDispatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WebhookDispatcher.class);
    private static final long SWEEP_EVERY_MS = 60_000;

    private final Vertx vertx;
    private final Context context;
    private final KafkaClientSettings kafka;
    private final WebhookSettings settings;
    private final Function<String, Optional<Tenant>> tenantById;
    private final Clock clock;
    private final RetrySchedule schedule;
    private final WebhookSender sender;
    private final Semaphore creationPermits;

    /** Latest known state per delivery id. Written only on {@link #context}; read from any thread (API). */
    private final DeliveryLog log = new DeliveryLog();
    private final DeliveryFactory factory;
    private final WebhookMeters meters;
    // confined to the context
    private final Set<String> inFlight = new HashSet<>();
    private final Set<String> creating = new HashSet<>();
    private final List<Delivery> awaitingCatchUp = new ArrayList<>();
    private Set<Integer> owned = Set.of();
    private boolean readerPaused;
    private long lastSweepMs;

    private final Promise<Void> started = Promise.promise();
    private volatile boolean caughtUp;
    private volatile boolean assignedOnce;
    private volatile boolean closed;
    private volatile Consumer<Delivery> settledListener = d -> { };

    private KafkaProducer<String, byte[]> producer;
    private TopicFollower reader;
    private GroupMembership ownership;
    private long timerId = -1;
    private String jobEventsTopic;
    private DeliveryCreator creator;
    private UnaryOperator<Function<Delivery, CompletableFuture<RecordMetadata>>> creationWriteDecorator = UnaryOperator.identity();


    /**
     * @param vertx      the Vert.x instance; a context of it is taken here for all delivery state
     * @param kafka      Kafka client settings
     * @param settings   webhook settings
     * @param tenantById the tenant directory: secrets are looked up at each attempt so rotation applies at once
     * @param clock      the schedule's clock (a fake one in tests)
     * @param registry   where the {@code inferq.webhooks.*} meters go
     */
    public WebhookDispatcher(Vertx vertx, KafkaClientSettings kafka, WebhookSettings settings,
            Function<String, Optional<Tenant>> tenantById, Clock clock, MeterRegistry registry) {
        this(vertx, kafka, settings, tenantById, clock, registry, () -> ThreadLocalRandom.current().nextDouble());
    }

    WebhookDispatcher(Vertx vertx, KafkaClientSettings kafka, WebhookSettings settings,
            Function<String, Optional<Tenant>> tenantById, Clock clock, MeterRegistry registry, DoubleSupplier random) {
        this.vertx = java.util.Objects.requireNonNull(vertx, "vertx");
        this.kafka = java.util.Objects.requireNonNull(kafka, "kafka settings");
        this.settings = java.util.Objects.requireNonNull(settings, "webhook settings");
        this.tenantById = java.util.Objects.requireNonNull(tenantById, "tenant directory");
        this.clock = java.util.Objects.requireNonNull(clock, "clock");
        java.util.Objects.requireNonNull(registry, "meter registry");
        this.context = vertx.getOrCreateContext();
        this.schedule = new RetrySchedule(settings.jitter(), random);
        this.sender = new WebhookSender(vertx, context, WebhookTargetPolicy.of(settings), settings, clock);
        this.creationPermits = new Semaphore(settings.maxPending());
        this.factory = new DeliveryFactory(settings, clock);
        this.meters = new WebhookMeters(registry, log.liveGauge());
    }

    /**
     * Starts reading the delivery topic and joining the deliverers' group.
     *
     * @return completes once the existing deliveries have been read and this process has had its first
     * partition assignment (possibly empty)
     */
    public Future<Void> start() {
        producer = new KafkaProducer<>(kafka.producer("webhook-deliveries"), new StringSerializer(), new ByteArraySerializer());
        reader = TopicFollower.batched("webhook-delivery-log", kafka, settings.deliveriesTopic(), TopicFollower.Start.BEGINNING,
                batch -> context.runOnContext(v -> applyBatch(batch))).onCaughtUp(() -> context.runOnContext(v -> onCaughtUp()));
        ownership = new GroupMembership("webhook-ownership",
                ConsumerThread.kafkaConsumers(kafka.consumer("webhook-deliverer", settings.groupId())), settings.deliveriesTopic(),
                set -> context.runOnContext(v -> onOwnership(set)));
        reader.start();
        ownership.start();
        if (jobEventsTopic != null) {
            creator = new DeliveryCreator(kafka, jobEventsTopic, settings.groupId() + "-creators", () -> caughtUp && !closed,
                    this::deliveryFor, log::contains, creationWriteDecorator.apply(this::writeCreated), this::onCreated);
            creator.start();
        }
        context.runOnContext(v -> timerId = vertx.setPeriodic(settings.tick().toMillis(), id -> tick()));
        return started.future();
    }

    /** @return true once existing deliveries are read and the group assignment arrived, until {@link #close} */
    public boolean isReady() {
        return caughtUp && assignedOnce && !closed && (creator == null || creator.isReady());
    }

    /**
     * Reacts to a job's changed snapshot (a {@code JobEventsMaterializer} listener): creates the delivery the
     * snapshot calls for, if any and not already known. Any thread; returns quickly unless creation is saturated
     * (see class doc).
     */
    public void onJobChanged(JobEvent e) {
        if (closed) {
            return;
        }
        Optional<Delivery> wanted = deliveryFor(e);
        if (wanted.isEmpty() || log.contains(wanted.get().id())) {
            return;
        }
        createWhenPermitted(wanted.get(), "job " + wanted.get().jobId());
    }

    /**
     * Hands {@code d} to the context for creation once a creation permit is free: waits at most 30 s (back-pressure on
     * the caller), then drops it with an error.
     */
    private void createWhenPermitted(Delivery d, String subject) {
        try {
            if (!creationPermits.tryAcquire(30, TimeUnit.SECONDS)) {
                meters.creationDropped();
                LOG.error("webhook {} for {} dropped: {} creations already waiting for 30 s", d.id(), subject, settings.maxPending());
                return;
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            return;
        }
        context.runOnContext(v -> create(d));
    }

    /**
     * The delivery (version 1, {@code PENDING}) this job snapshot calls for now, if any: none when the snapshot calls
     * for no event, or when its state is older than {@code creationHorizon} (history, not news).
     */
    Optional<Delivery> deliveryFor(JobEvent e) {
        return factory.forJob(e);
    }

    /**
     * Makes this dispatcher create deliveries itself from the job-events topic ({@link DeliveryCreator}: a consumer in
     * group {@code groupId + "-creators"} that commits an event's offset only once its delivery record is acknowledged),
     * instead of being told through {@link #onJobChanged}. Call before {@link #start}; {@link #isReady} then also
     * waits for that group's first assignment.
     *
     * @param jobEventsTopic the topic of job snapshots ({@code inferq.job-events})
     */
    public WebhookDispatcher createFrom(String jobEventsTopic) {
        this.jobEventsTopic = java.util.Objects.requireNonNull(jobEventsTopic, "job events topic");
        return this;
    }

    /** For tests: wraps how the creator writes a delivery record (to make a write fail). Call before {@link #start}. */
    void decorateCreationWrites(UnaryOperator<Function<Delivery, CompletableFuture<RecordMetadata>>> decorator) {
        this.creationWriteDecorator = decorator;
    }

    private CompletableFuture<RecordMetadata> writeCreated(Delivery d) {
        CompletableFuture<RecordMetadata> ack = new CompletableFuture<>();
        producer.send(new ProducerRecord<>(settings.deliveriesTopic(), d.id(), DeliveryLogCodec.encode(d)), (md, ex) -> {
            if (ex == null) {
                ack.complete(md);
            } else {
                ack.completeExceptionally(ex);
            }
        });
        return ack;
    }

    /** The creator's write of {@code d} was acknowledged: track it at once (the reader would find it too). Any thread. */
    private void onCreated(Delivery d, RecordMetadata md) {
        context.runOnContext(v -> {
            if (!closed && !log.contains(d.id()) && !readerPaused) {
                put(new Tracked(d, md.partition(), md.offset()));
            }
            pump();
        });
    }

    /**
     * Creates the delivery of an event that is not a job's (a batch's {@code batch.completed}, ...), with {@code data} as
     * the payload's {@code data}. The {@code webhook-id} is a function of subject and type, so repeating the call (another
     * process, a restart) creates nothing twice. Any thread; returns quickly unless creation is saturated.
     *
     * @param subjectId the batch id (or other object id) the event is about
     */
    public void onEvent(String tenant, String subjectId, String type, String url, JsonObject data, long atMs) {
        if (closed) {
            return;
        }
        String id = DeliveryFactory.eventDeliveryId(subjectId, type);
        if (log.contains(id)) {
            return;
        }
        createWhenPermitted(factory.forEvent(tenant, subjectId, type, url, data, atMs), subjectId);
    }

    // ---- on the context ------------------------------------------------------------------------------------

    private void create(Delivery d) {
        if (closed) {
            creationPermits.release();
            return;
        }
        if (!caughtUp) {
            awaitingCatchUp.add(d); // keeps its permit: bounded by maxPending
            return;
        }
        if (log.contains(d.id()) || !creating.add(d.id())) {
            creationPermits.release();
            return;
        }
        produce(settings.deliveriesTopic(), d.id(), DeliveryLogCodec.encode(d)).onComplete(ar -> {
            creating.remove(d.id());
            creationPermits.release();
            if (ar.failed()) {
                LOG.error("webhook {} for job {} could not be written to {}: {}", d.id(), d.jobId(),
                        settings.deliveriesTopic(), ar.cause().toString());
                return;
            }
            if (!log.contains(d.id()) && !readerPaused) {
                put(new Tracked(d, ar.result().partition(), ar.result().offset()));
                pump();
            } // else: the reader will find it in Kafka
        });
    }

    private void onCaughtUp() {
        caughtUp = true;
        List<Delivery> waiting = new ArrayList<>(awaitingCatchUp);
        awaitingCatchUp.clear();
        waiting.forEach(this::create);
        maybeStarted();
        pump();
    }

    private void onOwnership(Set<Integer> partitions) {
        owned = partitions;
        assignedOnce = true;
        LOG.info("webhook deliveries: this process now sends for partitions {} of {}", partitions, settings.deliveriesTopic());
        maybeStarted();
        pump();
    }

    private void maybeStarted() {
        if (caughtUp && assignedOnce) {
            started.tryComplete();
        }
    }

    private void applyBatch(List<ConsumerRecord<String, byte[]>> batch) {
        for (ConsumerRecord<String, byte[]> r : batch) {
            try {
                apply(r);
            } catch (RuntimeException ex) {
                LOG.error("undecodable webhook delivery record {}-{}@{} skipped: {}", r.topic(), r.partition(), r.offset(), ex.toString());
            }
        }
        if (!readerPaused && log.live() >= settings.maxPending()) {
            readerPaused = true;
            reader.pause();
            LOG.warn("webhook deliveries: {} in memory, the limit; reading more waits until some settle", log.live());
        }
        pump();
    }

    private void apply(ConsumerRecord<String, byte[]> r) {
        Tracked cur = log.apply(r);
        if (cur != null && owned.contains(r.partition()) && !inFlight.contains(cur.d().id())) {
            // an older version landed after the current one: rewrite the current one so compaction keeps it
            LOG.info("webhook {}: stale version after {}; rewriting the current state", cur.d().id(), cur.d().version());
            write(cur.d().rewrittenAs(cur.d().version() + 1), cur.partition());
        }
    }

    private void tick() {
        context.runOnContext(v -> {
            long now = clock.millis();
            if (now - lastSweepMs >= SWEEP_EVERY_MS) {
                lastSweepMs = now;
                sweep(now);
            }
            pump();
        });
    }

    /** Starts every owned, due, pending delivery that fits under the concurrency limit. Any thread. */
    void pump() {
        if (Vertx.currentContext() != context) {
            context.runOnContext(v -> pumpOnContext());
        } else {
            pumpOnContext();
        }
    }

    /** For tests driving a fake clock: pumps on the context. @return how many attempts were started */
    Future<Integer> pumpNow() {
        Promise<Integer> p = Promise.promise();
        context.runOnContext(v -> p.complete(pumpOnContext()));
        return p.future();
    }

    private int pumpOnContext() {
        if (closed || !(caughtUp || readerPaused)) {
            return 0;
        }
        int slots = settings.maxConcurrent() - inFlight.size();
        if (slots <= 0) {
            return 0;
        }
        long now = clock.millis();
        List<Tracked> due = log.all().stream()
                .filter(t -> t.d().state() == Delivery.State.PENDING && t.d().nextAttemptAtMs() <= now
                        && owned.contains(t.partition()) && !inFlight.contains(t.d().id()))
                .sorted(Comparator.comparingLong(t -> t.d().nextAttemptAtMs()))
                .limit(slots).toList();
        due.forEach(this::attempt);
        return due.size();
    }

    private void attempt(Tracked t) {
        Delivery d = t.d();
        inFlight.add(d.id());
        DeliveryLogCodec.DisabledEndpoint ep = log.disabledEndpoint(DeliveryLogCodec.endpointKey(d.tenant(), d.url()));
        if (ep != null) {
            settle(t, new AttemptOutcome.Refused("endpoint disabled since " + Instant.ofEpochMilli(ep.disabledAtMs())
                    + " (" + ep.reason() + "); replaying a delivery to it re-enables it"), 0);
            return;
        }
        Optional<Tenant> tenant = tenantById.apply(d.tenant());
        if (tenant.isEmpty()) {
            settle(t, new AttemptOutcome.Refused("tenant " + d.tenant() + " no longer exists"), 0);
            return;
        }
        if (tenant.get().webhookSecrets().isEmpty()) {
            settle(t, new AttemptOutcome.Refused("tenant " + d.tenant() + " has no webhook secret to sign with"), 0);
            return;
        }
        meters.attempted();
        long startNs = System.nanoTime();
        sender.send(d, tenant.get().webhookSecrets()).onComplete(ar -> settle(t, ar.succeeded() ? ar.result()
                : new AttemptOutcome.Retryable("internal error: " + ar.cause(), 0, 0, "internal"), System.nanoTime() - startNs));
    }

    private void settle(Tracked t, AttemptOutcome outcome, long latencyNs) {
        Delivery d = t.d();
        inFlight.remove(d.id());
        Tracked cur = log.tracked(d.id());
        if (cur != null && cur.d().version() > d.version()) {
            d = cur.d(); // rewritten meanwhile (a repair): build on the latest version
        }
        long now = clock.millis();
        Delivery next;
        if (outcome instanceof AttemptOutcome.Delivered ok) {
            meters.delivered(latencyNs);
            next = d.delivered(now, ok.status());
            write(next, t.partition());
        } else if (outcome instanceof AttemptOutcome.Retryable fail) {
            meters.failed(fail.kind(), latencyNs);
            long delay = schedule.nextDelayMs(d.attempts() + 1, fail.retryAfterMs());
            if (delay < 0) {
                next = d.failed(now, fail.reason() + "; gave up after " + (d.attempts() + 1) + " attempts", fail.status(), true);
                deadLetter(next, t.partition());
            } else {
                next = d.retryAt(now, now + delay, fail.reason(), fail.status());
                write(next, t.partition());
            }
        } else if (outcome instanceof AttemptOutcome.Gone gone) {
            meters.failed("gone", latencyNs);
            var ep = new DeliveryLogCodec.DisabledEndpoint(d.tenant(), d.url(), now, gone.reason());
            log.disable(ep);
            produce(settings.deliveriesTopic(), ep.key(), DeliveryLogCodec.encode(ep));
            next = d.failed(now, gone.reason() + "; endpoint disabled, no further deliveries to it", 410, true);
            deadLetter(next, t.partition());
        } else {
            AttemptOutcome.Refused refused = (AttemptOutcome.Refused) outcome;
            meters.failed("refused", -1);
            next = d.failed(now, refused.reason(), 0, false);
            deadLetter(next, t.partition());
        }
        settledListener.accept(next);
        if (readerPaused && log.live() < settings.maxPending() * 9L / 10) {
            readerPaused = false;
            reader.resume();
        }
        pump();
    }

    private void deadLetter(Delivery failed, int partition) {
        meters.deadLettered();
        LOG.warn("webhook {} for job {} to {} dead-lettered: {}", failed.id(), failed.jobId(), failed.url(), failed.lastError());
        produce(settings.dlqTopic(), failed.id(), DeliveryLogCodec.encodeDeadLetter(failed, failed.updatedAtMs()));
        write(failed, partition);
    }

    /** Makes {@code d} the current state at once and writes it to Kafka; the offset is filled in on the ack. */
    private void write(Delivery d, int partition) {
        put(new Tracked(d, partition, -1));
        produce(settings.deliveriesTopic(), d.id(), DeliveryLogCodec.encode(d)).onComplete(ar -> {
            if (ar.failed()) {
                LOG.error("webhook {} state v{} not written to Kafka (delivery may repeat after a restart): {}",
                        d.id(), d.version(), ar.cause().toString());
                return;
            }
            log.acknowledged(d, ar.result().partition(), ar.result().offset());
        });
    }

    /** Tombstones owned delivered markers past the creation horizon and failed ones past their retention. */
    private void sweep(long now) {
        long deliveredBefore = now - settings.creationHorizon().toMillis();
        long failedBefore = now - settings.failedRetention().toMillis();
        for (Tracked t : log.all()) {
            Delivery d = t.d();
            boolean expired = d.state() == Delivery.State.DELIVERED && d.updatedAtMs() < deliveredBefore
                    || d.state() == Delivery.State.FAILED && d.updatedAtMs() < failedBefore;
            if (expired && owned.contains(t.partition()) && t.offset() >= 0) {
                produce(settings.deliveriesTopic(), d.id(), null); // removed when the reader sees the tombstone
            }
        }
    }

    private void put(Tracked t) {
        log.put(t);
    }

    /** Sends on a worker thread, in call order; the result comes back on the context. */
    private Future<RecordMetadata> produce(String topic, String key, byte[] value) {
        Promise<RecordMetadata> p = Promise.promise();
        KafkaProducer<String, byte[]> prod = producer;
        context.executeBlocking(() -> {
            prod.send(new ProducerRecord<>(topic, key, value), (md, ex) -> context.runOnContext(v -> {
                if (ex == null) {
                    p.tryComplete(md);
                } else {
                    p.tryFail(ex);
                }
            }));
            return null;
        }, true).onFailure(p::tryFail);
        return p.future();
    }

    // ---- API support (WebhookApi) ----------------------------------------------------------------------------

    /**
     * @param tenant null for every tenant (the operator console)
     * @return the tenant's deliveries in the given states, newest first. Any thread (a consistent-per-entry view).
     */
    List<Delivery> list(String tenant, Set<Delivery.State> states) {
        return log.list(tenant, states);
    }

    /** What a replay request came to. */
    sealed interface ReplayResult {
        record Replayed(Delivery delivery) implements ReplayResult {
        }

        record NotFound() implements ReplayResult {
        }

        record NotFailed(Delivery delivery) implements ReplayResult {
        }

        record Unavailable(String reason) implements ReplayResult {
        }
    }

    /**
     * Queues a failed delivery again: attempts reset, same {@code webhook-id} and payload, endpoint re-enabled.
     * Any thread; the future completes on the dispatcher's context once the new state is in Kafka.
     */
    Future<ReplayResult> replay(String tenant, String id) {
        Promise<ReplayResult> p = Promise.promise();
        context.runOnContext(v -> {
            if (!isReady()) {
                p.complete(new ReplayResult.Unavailable("webhook deliveries are starting"));
                return;
            }
            Tracked t = log.tracked(id);
            if (t == null || tenant != null && !t.d().tenant().equals(tenant)) { // null: the operator console
                p.complete(new ReplayResult.NotFound());
                return;
            }
            if (t.d().state() != Delivery.State.FAILED || t.d().payload() == null) {
                p.complete(new ReplayResult.NotFailed(t.d()));
                return;
            }
            Delivery again = t.d().replayed(clock.millis());
            String epKey = DeliveryLogCodec.endpointKey(again.tenant(), again.url());
            if (log.enable(epKey, clock.millis())) {
                produce(settings.deliveriesTopic(), epKey, null);
            }
            put(new Tracked(again, t.partition(), -1));
            produce(settings.deliveriesTopic(), again.id(), DeliveryLogCodec.encode(again)).onComplete(ar -> {
                if (ar.failed()) {
                    p.complete(new ReplayResult.Unavailable("could not write the replay to Kafka: " + ar.cause().getMessage()));
                    return;
                }
                log.acknowledged(again, ar.result().partition(), ar.result().offset());
                p.complete(new ReplayResult.Replayed(again));
                pump();
            });
        });
        return p.future();
    }

    /** For tests: called on the context with each new state after an attempt settles. */
    void onSettled(Consumer<Delivery> listener) {
        settledListener = listener;
    }

    /** For tests and the API: the current state of a delivery, or null. Any thread. */
    Delivery get(String id) {
        return log.get(id);
    }

    /** Stops sending and reading, leaves the group (partitions move at once) and flushes. Blocking. */
    @Override
    public void close() {
        closed = true;
        if (timerId >= 0) {
            vertx.cancelTimer(timerId);
        }
        if (creator != null) {
            creator.close();
        }
        if (ownership != null) {
            ownership.close();
        }
        if (reader != null) {
            reader.close();
        }
        if (producer != null) {
            producer.close(Duration.ofSeconds(10));
        }
        sender.close();
    }
}
