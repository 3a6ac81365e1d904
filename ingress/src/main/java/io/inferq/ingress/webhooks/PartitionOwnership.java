package io.inferq.ingress.webhooks;

import io.inferq.broker.client.KafkaClientSettings;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Membership in the consumer group that divides the delivery topic's partitions among ingress processes: a
 * process sends only the deliveries whose records live in partitions assigned to it. Scaling out is Kafka's
 * group protocol, nothing home-made. The consumer pauses every partition it is given and only polls to stay
 * in the group: state is read by {@link DeliveryLogReader}, and no offsets are committed.
 *
 * <p>{@code onChange} runs on the membership thread with the full owned set after each assignment change (an
 * empty set when this process owns nothing); it must hand off at once.
 */
final class PartitionOwnership implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PartitionOwnership.class);

    private final Properties props;
    private final String topic;
    private final Consumer<Set<Integer>> onChange;
    private final AtomicBoolean running = new AtomicBoolean();
    private final Set<Integer> owned = new HashSet<>();
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    PartitionOwnership(KafkaClientSettings kafka, String topic, String groupId, Consumer<Set<Integer>> onChange) {
        this.props = kafka.consumer("webhook-deliverer", groupId);
        this.topic = topic;
        this.onChange = onChange;
    }

    void start() {
        running.set(true);
        thread = new Thread(this::run, "webhook-ownership");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
                consumer = c;
                c.subscribe(List.of(topic), new Listener(c));
                while (running.get()) {
                    c.poll(Duration.ofMillis(200)); // paused: returns nothing, keeps the membership alive
                }
            } catch (WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                if (!running.get()) {
                    break;
                }
                LOG.error("webhook ownership consumer failed; rejoining in 1 s", e);
                owned.clear();
                onChange.accept(Set.of());
                try {
                    Thread.sleep(1000); // own thread
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            } finally {
                consumer = null;
            }
        }
    }

    private final class Listener implements ConsumerRebalanceListener {
        private final KafkaConsumer<String, byte[]> c;

        Listener(KafkaConsumer<String, byte[]> c) {
            this.c = c;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            c.pause(partitions);
            partitions.forEach(tp -> owned.add(tp.partition()));
            onChange.accept(Set.copyOf(owned));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            partitions.forEach(tp -> owned.remove(tp.partition()));
            onChange.accept(Set.copyOf(owned));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            onPartitionsRevoked(partitions);
        }
    }

    /** Leaves the group, so the partitions move to the other processes at once. Blocking. */
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
    }
}
