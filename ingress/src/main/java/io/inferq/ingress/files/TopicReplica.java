package io.inferq.ingress.files;

import io.inferq.broker.client.ConsumerThread;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.TopicFollower;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads every partition of a compacted topic from its beginning, without a group, and hands each record to a sink on
 * its own thread (a {@link TopicFollower}); every process holds the whole derived state (files index, batch
 * snapshots).
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
    private final TopicFollower follower;
    private final Object endLock = new Object();
    private KafkaConsumer<String, byte[]> endReader;

    /**
     * @param sink gets each record (tombstones included: value null), in offset order per partition, on the replica's
     *             thread; an exception is logged and the record skipped
     */
    public TopicReplica(String name, KafkaClientSettings kafka, String topic, Consumer<ConsumerRecord<String, byte[]>> sink) {
        this.name = name;
        this.kafka = kafka;
        this.topic = topic;
        Properties p = kafka.consumer(name, null);
        p.put("max.partition.fetch.bytes", String.valueOf(4 * 1024 * 1024));
        this.follower = TopicFollower.perRecord(name, ConsumerThread.kafkaConsumers(p), topic, TopicFollower.Start.BEGINNING, sink);
    }

    public void start() {
        follower.start();
    }

    /** @return whether the records present at start have all been read */
    public boolean isCaughtUp() {
        return follower.isCaughtUp();
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
            if (follower.hasReached(end)) {
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

    @Override
    public void close() {
        follower.close();
        synchronized (endLock) {
            if (endReader != null) {
                endReader.close();
                endReader = null;
            }
        }
    }
}
