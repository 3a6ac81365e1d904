package io.inferq.ingress.webhooks;

import io.inferq.broker.client.KafkaClientSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
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
 * Reads every partition of the compacted delivery topic from the beginning, without a group and without
 * committing, and hands each poll to a sink: every ingress process knows every delivery's latest state (for
 * creation dedupe and the API), while {@link PartitionOwnership} decides who sends.
 *
 * <p>Like {@code TopicFollower}, plus {@link #pause}/{@link #resume} for the in-memory bound: while paused,
 * records stay in Kafka. The consumer is touched only by the reader thread; the sink runs on it and must
 * hand off at once. {@code onCaughtUp} runs once, after the sink has received every record up to the end
 * offsets seen at start. After a failure the reader starts again from the beginning (the sink is idempotent).
 */
final class DeliveryLogReader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DeliveryLogReader.class);

    private final KafkaClientSettings kafka;
    private final String topic;
    private final Consumer<List<ConsumerRecord<String, byte[]>>> sink;
    private final Runnable onCaughtUp;
    private final AtomicBoolean running = new AtomicBoolean();
    private final AtomicBoolean pauseRequested = new AtomicBoolean();
    private volatile boolean caughtUp;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    DeliveryLogReader(KafkaClientSettings kafka, String topic, Consumer<List<ConsumerRecord<String, byte[]>>> sink,
            Runnable onCaughtUp) {
        this.kafka = kafka;
        this.topic = topic;
        this.sink = sink;
        this.onCaughtUp = onCaughtUp;
    }

    void start() {
        running.set(true);
        thread = new Thread(this::run, "webhook-delivery-log");
        thread.setDaemon(true);
        thread.start();
    }

    boolean isCaughtUp() {
        return caughtUp;
    }

    /** Stops fetching (records stay in Kafka) until {@link #resume}. Any thread. */
    void pause() {
        pauseRequested.set(true);
    }

    void resume() {
        pauseRequested.set(false);
    }

    private void run() {
        Properties p = kafka.consumer("webhook-delivery-log", null);
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
                consumer = c;
                List<TopicPartition> parts = new ArrayList<>();
                for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    parts.add(new TopicPartition(pi.topic(), pi.partition()));
                }
                c.assign(parts);
                c.seekToBeginning(parts);
                Map<TopicPartition, Long> end = c.endOffsets(parts);
                boolean paused = false;
                while (running.get()) {
                    boolean want = pauseRequested.get();
                    if (want != paused) {
                        if (want) {
                            c.pause(parts);
                        } else {
                            c.resume(parts);
                        }
                        paused = want;
                    }
                    var records = c.poll(Duration.ofMillis(100));
                    if (!records.isEmpty()) {
                        List<ConsumerRecord<String, byte[]>> batch = new ArrayList<>(records.count());
                        records.forEach(batch::add);
                        sink.accept(batch);
                    }
                    if (!caughtUp && end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue())) {
                        caughtUp = true;
                        LOG.info("webhook deliveries: caught up with {}", topic);
                        onCaughtUp.run();
                    }
                }
            } catch (WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                if (!running.get()) {
                    break;
                }
                LOG.error("webhook delivery log reader failed; re-reading {} in 1 s", topic, e);
                try {
                    Thread.sleep(1000); // own thread, never an event loop
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
