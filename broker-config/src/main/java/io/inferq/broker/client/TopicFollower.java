package io.inferq.broker.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads every partition of one topic without a consumer group and without committing, from the
 * beginning (to rebuild a derived view) or from the end (to follow changes), and hands each record
 * to a sink on its own thread (a {@link ConsumerThread}).
 *
 * <p>Used where every process needs every record (job view, dispatcher credits, webhook delivery log, files and
 * batches indexes), so a group would be wrong. The sink runs on the follower thread; a sink exception is logged and
 * the record skipped. {@link #batched} hands each poll's records to the sink at once instead (a sink exception then
 * skips the whole batch: such a sink handles its own per-record failures). {@link #isCaughtUp()} turns true once the
 * end offsets seen at start are reached ({@link #onCaughtUp} is told once). If the consumer fails, a new one is made
 * after 1 s and goes on from the position after the last poll handed to the sink (partitions it never read: from
 * their beginning; sinks are idempotent). {@link #pause}/{@link #resume} stop and restart fetching (records stay in
 * Kafka) from any thread.
 */
public final class TopicFollower extends ConsumerThread {
    private static final Logger LOG = LoggerFactory.getLogger(TopicFollower.class);

    /** Where to start reading. */
    public enum Start { BEGINNING, END }

    private final String topic;
    private final Start start;
    private final java.util.function.Consumer<List<ConsumerRecord<String, byte[]>>> sink;
    private final AtomicBoolean pauseRequested = new AtomicBoolean();
    private volatile Runnable onCaughtUp = () -> { };
    private volatile boolean caughtUp;
    private boolean first = true;
    /** Per partition, the position after the last poll handed to the sink. Written by the thread, read by any. */
    private final Map<Integer, Long> positions = new ConcurrentHashMap<>();

    public TopicFollower(String name, KafkaClientSettings kafka, String topic, Start start,
            java.util.function.Consumer<ConsumerRecord<String, byte[]>> sink) {
        this(name, kafkaConsumers(kafka.consumer(name, null)), topic, start, perRecord(name, sink));
    }

    private TopicFollower(String name, Supplier<? extends Consumer<String, byte[]>> consumers, String topic, Start start,
            java.util.function.Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        super(name, consumers, RESTART_DELAY, Duration.ofSeconds(10));
        this.topic = topic;
        this.start = start;
        this.sink = sink;
    }

    /**
     * A follower handing each poll's records (in offset order per partition, at most the consumer's
     * {@code max.poll.records}) to {@code sink} in one call, so the sink can batch its own work.
     */
    public static TopicFollower batched(String name, KafkaClientSettings kafka, String topic, Start start,
            java.util.function.Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        return batched(name, kafkaConsumers(kafka.consumer(name, null)), topic, start, sink);
    }

    /** A batched follower whose consumers come from {@code consumers} (a {@code MockConsumer} in unit tests). */
    public static TopicFollower batched(String name, Supplier<? extends Consumer<String, byte[]>> consumers, String topic,
            Start start, java.util.function.Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        return new TopicFollower(name, consumers, topic, start, sink);
    }

    /** A per-record follower whose consumers come from {@code consumers}. */
    public static TopicFollower perRecord(String name, Supplier<? extends Consumer<String, byte[]>> consumers, String topic,
            Start start, java.util.function.Consumer<ConsumerRecord<String, byte[]>> sink) {
        return new TopicFollower(name, consumers, topic, start, perRecord(name, sink));
    }

    private static java.util.function.Consumer<List<ConsumerRecord<String, byte[]>>> perRecord(String name,
            java.util.function.Consumer<ConsumerRecord<String, byte[]>> sink) {
        return records -> {
            for (ConsumerRecord<String, byte[]> r : records) {
                try {
                    sink.accept(r);
                } catch (RuntimeException e) {
                    LOG.error("{}: record {}-{}@{} skipped: {}", name, r.topic(), r.partition(), r.offset(), e.toString());
                }
            }
        };
    }

    /** Runs {@code hook} once, on the follower thread, when caught up. Set before {@link #start}. */
    public TopicFollower onCaughtUp(Runnable hook) {
        this.onCaughtUp = hook;
        return this;
    }

    public boolean isCaughtUp() {
        return caughtUp;
    }

    /** Stops fetching (records stay in Kafka) until {@link #resume}. Any thread; applied between polls. */
    public void pause() {
        pauseRequested.set(true);
    }

    /** Fetches again after {@link #pause}. Any thread. */
    public void resume() {
        pauseRequested.set(false);
    }

    /**
     * @return whether every record before these offsets has been handed to the sink. Any thread.
     */
    public boolean hasReached(Map<TopicPartition, Long> offsets) {
        for (var e : offsets.entrySet()) {
            if (positions.getOrDefault(e.getKey().partition(), 0L) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    @Override
    protected void session(Consumer<String, byte[]> c) {
        List<TopicPartition> parts = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
            parts.add(new TopicPartition(pi.topic(), pi.partition()));
        }
        c.assign(parts);
        if (first && start == Start.END) {
            c.seekToEnd(parts);
        } else {
            // after a failure, go on after the last poll handed to the sink; partitions never read from
            // their beginning (sinks are idempotent)
            List<TopicPartition> unread = new ArrayList<>();
            for (TopicPartition tp : parts) {
                Long next = positions.get(tp.partition());
                if (next != null) {
                    c.seek(tp, next);
                } else {
                    unread.add(tp);
                }
            }
            c.seekToBeginning(unread);
        }
        first = false;
        Map<TopicPartition, Long> end = c.endOffsets(parts);
        boolean paused = false;
        while (running()) {
            boolean want = pauseRequested.get();
            if (want != paused) {
                if (want) {
                    c.pause(parts);
                } else {
                    c.resume(parts);
                }
                paused = want;
            }
            ConsumerRecords<String, byte[]> polled = c.poll(Duration.ofMillis(100));
            if (!polled.isEmpty()) {
                List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>(polled.count());
                polled.forEach(batch::add);
                try {
                    sink.accept(batch);
                } catch (RuntimeException e) {
                    LOG.error("{}: batch of {} records skipped: {}", name(), batch.size(), e.toString());
                }
            }
            for (TopicPartition tp : parts) {
                positions.put(tp.partition(), c.position(tp));
            }
            if (!caughtUp && hasReached(end)) {
                caughtUp = true;
                LOG.info("{}: caught up with {}", name(), topic);
                onCaughtUp.run();
            }
        }
    }
}
