package io.inferq.broker.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads every partition of one topic without a consumer group and without committing, from the
 * beginning (to rebuild a derived view) or from the end (to follow changes), and hands each record
 * to a sink on its own thread.
 *
 * <p>Used where every process needs every record (job view, dispatcher credits), so a group would be
 * wrong. The sink runs on the follower thread; a sink exception is logged and the record skipped.
 * {@link #batched} hands each poll's records to the sink at once instead (a sink exception then skips the
 * whole batch: such a sink handles its own per-record failures). {@link #isCaughtUp()} turns true once the
 * end offsets seen at start are reached. If the consumer fails, a new one is made after 1 s and goes on after the
 * last record the sink was given (partitions it never read: from their beginning).
 */
public final class TopicFollower implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TopicFollower.class);

    /** Where to start reading. */
    public enum Start { BEGINNING, END }

    private final String name;
    private final KafkaClientSettings kafka;
    private final String topic;
    private final Start start;
    private final Consumer<List<ConsumerRecord<String, byte[]>>> sink;
    private final AtomicBoolean running = new AtomicBoolean();
    private volatile boolean caughtUp;
    private volatile KafkaConsumer<String, byte[]> consumer;
    /** Per partition, the offset after the last record handed to the sink; confined to the follower thread. */
    private final Map<TopicPartition, Long> resumeAt = new java.util.HashMap<>();
    private Thread thread;

    public TopicFollower(String name, KafkaClientSettings kafka, String topic, Start start,
            Consumer<ConsumerRecord<String, byte[]>> sink) {
        this(records -> {
            for (ConsumerRecord<String, byte[]> r : records) {
                try {
                    sink.accept(r);
                } catch (RuntimeException e) {
                    LOG.error("{}: record {}-{}@{} skipped: {}", name, r.topic(), r.partition(), r.offset(), e.toString());
                }
            }
        }, name, kafka, topic, start);
    }

    private TopicFollower(Consumer<List<ConsumerRecord<String, byte[]>>> sink, String name, KafkaClientSettings kafka,
            String topic, Start start) {
        this.name = name;
        this.kafka = kafka;
        this.topic = topic;
        this.start = start;
        this.sink = sink;
    }

    /**
     * A follower handing each poll's records (in offset order per partition, at most the consumer's
     * {@code max.poll.records}) to {@code sink} in one call, so the sink can batch its own work.
     */
    public static TopicFollower batched(String name, KafkaClientSettings kafka, String topic, Start start,
            Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        return new TopicFollower(sink, name, kafka, topic, start);
    }

    public void start() {
        running.set(true);
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    public boolean isCaughtUp() {
        return caughtUp;
    }

    private void run() {
        Properties p = kafka.consumer(name, null);
        boolean first = true;
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
                consumer = c;
                List<TopicPartition> parts = new ArrayList<>();
                for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    parts.add(new TopicPartition(pi.topic(), pi.partition()));
                }
                c.assign(parts);
                if (first && start == Start.END) {
                    c.seekToEnd(parts);
                } else {
                    // after a failure, go on after the last record handed to the sink; partitions never read from
                    // their beginning (sinks are idempotent)
                    List<TopicPartition> unread = new ArrayList<>();
                    for (TopicPartition tp : parts) {
                        Long next = resumeAt.get(tp);
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
                while (running.get()) {
                    ConsumerRecords<String, byte[]> polled = c.poll(Duration.ofMillis(200));
                    if (!polled.isEmpty()) {
                        List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>(polled.count());
                        polled.forEach(batch::add);
                        try {
                            sink.accept(batch);
                        } catch (RuntimeException e) {
                            LOG.error("{}: batch of {} records skipped: {}", name, batch.size(), e.toString());
                        }
                        for (ConsumerRecord<String, byte[]> r : batch) {
                            resumeAt.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                        }
                    }
                    if (!caughtUp && end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue())) {
                        caughtUp = true;
                        LOG.info("{}: caught up with {}", name, topic);
                    }
                }
            } catch (WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                LOG.error("{}: failed; restarting in 1 s", name, e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            } finally {
                consumer = null;
            }
        }
    }

    @Override
    public void close() {
        running.set(false);
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        if (thread != null) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
