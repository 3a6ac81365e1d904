package io.inferq.ingress.view;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.TopicFollower;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replays the compacted {@code inferq.job-events} topic from the beginning into a {@link JobView},
 * then follows it. It commits no offsets: the view is derived, and a restart rebuilds it (the topic
 * is compacted, so the replay is bounded by the number of live jobs).
 *
 * <p>Runs on its own thread and applies each poll's records as one batch ({@link JobView#applyAll}: one read
 * for the batch, one write per job however many of its events the batch holds). Listeners are called on that
 * thread, in event order, once for each event that changed the view, with the job's snapshot right after that
 * change; they must not block for long. {@link #isCaughtUp()} turns true once the end offsets seen at start are
 * reached.
 */
public final class JobEventsMaterializer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobEventsMaterializer.class);

    private final JobView view;
    private final List<Consumer<JobEvent>> listeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<JobEvent>> appliedReaders = new CopyOnWriteArrayList<>();
    private final List<Consumer<JobEvent>> applyingReaders = new CopyOnWriteArrayList<>();
    private final AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
    private final TopicFollower follower;
    private final Duration maxRetry;
    private volatile boolean closed;

    /** How long one event is retried while the view's store fails, by default. */
    public static final Duration DEFAULT_MAX_RETRY = Duration.ofMinutes(5);

    public JobEventsMaterializer(KafkaClientSettings kafka, JobView view) {
        this(kafka, view, DEFAULT_MAX_RETRY);
    }

    /** @param maxRetry how long one event is applied again while the view's store fails, before it is skipped */
    public JobEventsMaterializer(KafkaClientSettings kafka, JobView view, Duration maxRetry) {
        this.view = view;
        this.maxRetry = maxRetry;
        this.follower = TopicFollower.batched("job-view-materializer", kafka, TopicCatalogue.JOB_EVENTS,
                TopicFollower.Start.BEGINNING, this::applyRecords);
    }

    /**
     * Adds a listener for events that changed the view (webhooks: one delivery per change cluster-wide). With several
     * processes sharing the view, only the process whose write changed it calls its listeners for that event.
     */
    public void onChange(Consumer<JobEvent> listener) {
        listeners.add(listener);
    }

    /**
     * Adds a listener for every event this process reads, called once the view holds it (this process's write, or
     * another's before it, changed the view; or the event changed nothing): what a read of the view started from now
     * on reflects, and what each process must learn itself whichever process's write won (its waiting synchronous
     * requests). Not called for an event given up after its retries. Materializer thread; must not block.
     */
    public void onApplied(Consumer<JobEvent> reader) {
        appliedReaders.add(reader);
    }

    /**
     * Adds a listener called with every decoded event just before this process writes it to the view: from then on a
     * read of the view may or may not reflect it, until {@link #onApplied} says it does. Materializer thread; must not
     * block.
     */
    public void onApplying(Consumer<JobEvent> reader) {
        applyingReaders.add(reader);
    }

    public void start() {
        follower.start();
    }

    public boolean isCaughtUp() {
        return follower.isCaughtUp();
    }

    /**
     * Decodes a poll batch and applies it; the events of jobs whose write failed are applied again one by one
     * ({@link #applyRetrying}; applying again is harmless).
     */
    void applyRecords(List<ConsumerRecord<String, byte[]>> records) {
        List<JobEvent> events = new ArrayList<>(records.size());
        for (ConsumerRecord<String, byte[]> r : records) {
            if (r.value() == null) {
                continue; // tombstone
            }
            try {
                events.add(serde.decode(r.value()));
            } catch (AvroSerde.AvroDecodeException ex) {
                LOG.error("undecodable job event at {}-{}@{} skipped: {}", r.topic(), r.partition(), r.offset(), ex.getMessage());
            }
        }
        if (events.isEmpty()) {
            return;
        }
        for (JobEvent e : events) {
            notify(applyingReaders, e, "applying-listener");
        }
        List<JobEvent> changed = new ArrayList<>();
        List<JobEvent> retry;
        try {
            changed.addAll(view.applyAll(events));
            retry = List.of();
        } catch (JobView.NotAllApplied ex) {
            changed.addAll(ex.changed());
            retry = ex.notApplied();
        } catch (RuntimeException ex) {
            LOG.warn("applying a batch of {} job events failed ({}); applying them one by one", events.size(), ex.toString());
            retry = events;
        }
        java.util.Set<JobEvent> givenUp = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (JobEvent e : retry) {
            List<JobEvent> c = applyRetrying(e);
            if (c == null) {
                givenUp.add(e);
            } else {
                changed.addAll(c);
            }
        }
        for (JobEvent e : events) {
            if (!givenUp.contains(e)) {
                notify(appliedReaders, e, "applied-listener");
            }
        }
        for (JobEvent latest : changed) {
            notify(listeners, latest, "listener");
        }
    }

    /** Calls each of {@code those} with {@code e}; one that throws is logged and does not stop the others. */
    private static void notify(List<Consumer<JobEvent>> those, JobEvent e, String kind) {
        for (Consumer<JobEvent> c : those) {
            try {
                c.accept(e);
            } catch (RuntimeException ex) {
                LOG.warn("job event {} failed for {}: {}", kind, e.getJobId(), ex.toString());
            }
        }
    }

    /**
     * Applies one event, again and again while the store fails (100 ms doubling to 5 s), for at most {@code maxRetry}:
     * skipping it would leave its job in an earlier state for good. The follower waits meanwhile, so later events of the
     * job cannot overtake it. Given up (logged as an error) after {@code maxRetry}, or at close.
     *
     * @return what {@link JobView#applyAll} answered, or null if given up
     */
    private List<JobEvent> applyRetrying(JobEvent e) {
        long giveUpAt = System.nanoTime() + maxRetry.toNanos();
        long delayMs = 100;
        for (int attempt = 1; ; attempt++) {
            try {
                return view.applyAll(List.of(e));
            } catch (RuntimeException ex) {
                if (closed || System.nanoTime() >= giveUpAt) {
                    LOG.error("job event for {} ({}) skipped after {} attempt(s): {}", e.getJobId(), e.getStatus(), attempt, ex.toString());
                    return null;
                }
                LOG.warn("job event for {} not applied ({}); trying again in {} ms", e.getJobId(), ex.toString(), delayMs);
                try {
                    Thread.sleep(delayMs);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return null;
                }
                delayMs = Math.min(5_000, delayMs * 2);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        follower.close();
    }
}
