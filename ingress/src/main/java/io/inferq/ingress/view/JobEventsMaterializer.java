package io.inferq.ingress.view;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.TopicFollower;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
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
 * <p>Runs on its own thread; listeners are called on that thread after each change of the view and
 * must not block for long. {@link #isCaughtUp()} turns true once the end offsets seen at start are reached.
 */
public final class JobEventsMaterializer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobEventsMaterializer.class);

    private final JobView view;
    private final List<Consumer<JobEvent>> listeners = new CopyOnWriteArrayList<>();
    private final AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
    private final TopicFollower follower;

    public JobEventsMaterializer(KafkaClientSettings kafka, JobView view) {
        this.view = view;
        this.follower = new TopicFollower("job-view-materializer", kafka, TopicCatalogue.JOB_EVENTS,
                TopicFollower.Start.BEGINNING, this::applyRecord);
    }

    /** Adds a listener for events that changed the view (webhooks, waiting synchronous requests). */
    public void onChange(Consumer<JobEvent> listener) {
        listeners.add(listener);
    }

    public void start() {
        follower.start();
    }

    public boolean isCaughtUp() {
        return follower.isCaughtUp();
    }

    private void applyRecord(ConsumerRecord<String, byte[]> r) {
        if (r.value() == null) {
            return; // tombstone
        }
        JobEvent e;
        try {
            e = serde.decode(r.value());
        } catch (AvroSerde.AvroDecodeException ex) {
            LOG.error("undecodable job event at {}-{}@{} skipped: {}", r.topic(), r.partition(), r.offset(), ex.getMessage());
            return;
        }
        if (view.apply(e)) {
            JobEvent latest = view.get(e.getJobId());
            for (Consumer<JobEvent> l : listeners) {
                try {
                    l.accept(latest == null ? e : latest);
                } catch (RuntimeException ex) {
                    LOG.warn("job event listener failed for {}: {}", e.getJobId(), ex.toString());
                }
            }
        }
    }

    @Override
    public void close() {
        follower.close();
    }
}
