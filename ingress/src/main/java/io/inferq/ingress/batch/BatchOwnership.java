package io.inferq.ingress.batch;

import io.inferq.broker.client.KafkaClientSettings;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Membership in the consumer group that divides the batch topic's partitions among ingress processes: a process runs
 * (validates, submits, finishes) only the batches whose records live in partitions assigned to it, so each batch has one
 * runner and another takes over when it stops. The consumer pauses what it is given and polls only to stay in the group;
 * state is read by the {@link BatchStore}'s replica; no offsets are committed.
 */
final class BatchOwnership implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BatchOwnership.class);

    private final Properties props;
    private final String topic;
    private final AtomicBoolean running = new AtomicBoolean();
    private final Set<Integer> owned = ConcurrentHashMap.newKeySet();
    private volatile boolean assignedOnce;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    BatchOwnership(KafkaClientSettings kafka, String topic, String groupId) {
        this.props = kafka.consumer("batch-runner", groupId);
        this.topic = topic;
    }

    void start() {
        running.set(true);
        thread = new Thread(this::run, "batch-ownership");
        thread.setDaemon(true);
        thread.start();
    }

    boolean owns(int partition) {
        return owned.contains(partition);
    }

    boolean assignedOnce() {
        return assignedOnce;
    }

    private void run() {
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
                consumer = c;
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        c.pause(partitions);
                        partitions.forEach(tp -> owned.add(tp.partition()));
                        assignedOnce = true;
                    }

                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        partitions.forEach(tp -> owned.remove(tp.partition()));
                    }

                    @Override
                    public void onPartitionsLost(Collection<TopicPartition> partitions) {
                        onPartitionsRevoked(partitions);
                    }
                });
                while (running.get()) {
                    c.poll(Duration.ofMillis(200));
                }
            } catch (WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                if (!running.get()) {
                    break;
                }
                LOG.error("batch ownership consumer failed; rejoining in 1 s", e);
                owned.clear();
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
                thread.join(15_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        owned.clear();
    }
}
