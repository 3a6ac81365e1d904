package io.inferq.ingress.files;

import io.inferq.broker.client.KafkaClientSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads every partition of a compacted topic from its beginning, without a group, and hands each record to a sink on
 * its own thread; every process holds the whole derived state (files index, batch snapshots).
 *
 * <p>{@link #awaitLatest} is the read-your-writes barrier between processes: it reads the topic's end offsets now and
 * waits until this replica has handed every record before them to its sink, so a file uploaded or a batch created
 * through another ingress process a moment ago is found here. Blocking: call from a worker thread.
 */
public final class TopicReplica implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TopicReplica.class);

    private final String name;
    private final KafkaClientSettings kafka;
    private final String topic;
    private final Consumer<ConsumerRecord<String, byte[]>> sink;
    private final AtomicBoolean running = new AtomicBoolean();
    /** Per partition, the next offset to read (after the last record handed to the sink). */
    private final Map<Integer, Long> positions = new ConcurrentHashMap<>();
    private final Object endLock = new Object();
    private KafkaConsumer<String, byte[]> endReader;
    private volatile boolean caughtUp;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    /**
     * @param sink gets each record (tombstones included: value null), in offset order per partition, on the replica's
     *             thread; an exception is logged and the record skipped
     */
    public TopicReplica(String name, KafkaClientSettings kafka, String topic, Consumer<ConsumerRecord<String, byte[]>> sink) {
        this.name = name;
        this.kafka = kafka;
        this.topic = topic;
        this.sink = sink;
    }

    public void start() {
        running.set(true);
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** @return whether the records present at start have all been read */
    public boolean isCaughtUp() {
        return caughtUp;
    }

    /**
     * Waits until every record written to the topic before this call has been handed to the sink.
     *
     * @return whether it got there within {@code timeout}
     */
    public boolean awaitLatest(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<TopicPartition, Long> end;
        synchronized (endLock) {
            try {
                if (endReader == null) {
                    endReader = new KafkaConsumer<>(kafka.consumer(name + "-end", null), new StringDeserializer(),
                            new ByteArrayDeserializer());
                }
                List<TopicPartition> parts = new ArrayList<>();
                for (PartitionInfo pi : endReader.partitionsFor(topic, timeout)) {
                    parts.add(new TopicPartition(topic, pi.partition()));
                }
                end = endReader.endOffsets(parts, timeout);
            } catch (RuntimeException e) {
                LOG.warn("{}: end offsets of {} not read: {}", name, topic, e.toString());
                return false;
            }
        }
        while (System.nanoTime() < deadline) {
            boolean done = true;
            for (var e : end.entrySet()) {
                if (positions.getOrDefault(e.getKey().partition(), 0L) < e.getValue()) {
                    done = false;
                    break;
                }
            }
            if (done) {
                return true;
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    private void run() {
        Properties p = kafka.consumer(name, null);
        p.put("max.partition.fetch.bytes", String.valueOf(4 * 1024 * 1024));
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
                consumer = c;
                List<TopicPartition> parts = new ArrayList<>();
                for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    parts.add(new TopicPartition(pi.topic(), pi.partition()));
                }
                c.assign(parts);
                for (TopicPartition tp : parts) {
                    Long next = positions.get(tp.partition());
                    if (next != null) {
                        c.seek(tp, next);
                    } else {
                        c.seekToBeginning(List.of(tp));
                    }
                }
                Map<TopicPartition, Long> end = c.endOffsets(parts);
                while (running.get()) {
                    var polled = c.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<String, byte[]> r : polled) {
                        try {
                            sink.accept(r);
                        } catch (RuntimeException e) {
                            LOG.error("{}: record {}-{}@{} skipped: {}", name, r.topic(), r.partition(), r.offset(), e.toString());
                        }
                    }
                    for (TopicPartition tp : parts) {
                        positions.put(tp.partition(), c.position(tp));
                    }
                    if (!caughtUp && end.entrySet().stream().allMatch(e -> positions.getOrDefault(e.getKey().partition(), 0L) >= e.getValue())) {
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
        synchronized (endLock) {
            if (endReader != null) {
                endReader.close();
                endReader = null;
            }
        }
    }
}
