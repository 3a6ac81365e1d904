package io.inferq.broker.client;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The batch-sink variant of {@link ConsumerThread} for a consumer group: each poll is handed to a {@link BatchSink}
 * that makes the poll's effect durable and says whether it did; only then are the poll's offsets committed
 * ({@code commitSync}). A poll whose effect is not durable is read again: the consumer seeks back to its first records
 * and waits with backoff (100 ms doubling to 5 s) before the next try, so no record is skipped. A crash before the
 * commit reads the poll again (at-least-once: the sink's effect must be idempotent).
 *
 * <p><b>Threading.</b> The sink runs on the consumer thread and may block there (never an event loop); it should
 * stop waiting once {@link #isClosing()} is true. A {@code startWhen} condition, polled every 20 ms before the first
 * session, holds reading back until something else is ready.
 */
public final class CommittingBatchConsumer extends ConsumerThread {
    private static final Logger LOG = LoggerFactory.getLogger(CommittingBatchConsumer.class);
    private static final long FIRST_BACKOFF_MS = 100;
    private static final long MAX_BACKOFF_MS = 5_000;

    /** Makes a poll's effect durable. */
    @FunctionalInterface
    public interface BatchSink {
        /** @return true once the effect of every record is durable (then the offsets are committed) */
        boolean apply(ConsumerRecords<String, byte[]> records);
    }

    private final String topic;
    private final BooleanSupplier startWhen;
    private final BatchSink sink;
    private volatile boolean assigned;

    /**
     * @param name      thread name and log prefix
     * @param consumers makes the group's consumers ({@code group.id} set, auto-commit off)
     * @param topic     the topic read
     * @param startWhen reading starts once this is true
     * @param sink      makes each poll's effect durable
     */
    public CommittingBatchConsumer(String name, Supplier<? extends Consumer<String, byte[]>> consumers, String topic,
            BooleanSupplier startWhen, BatchSink sink) {
        super(name, consumers, RESTART_DELAY, Duration.ofSeconds(15));
        this.topic = topic;
        this.startWhen = startWhen;
        this.sink = sink;
    }

    /** @return true once this process has had its first assignment in the group */
    public boolean isReady() {
        return assigned;
    }

    /** @return true once {@link #close} was called: a blocking sink should give up waiting */
    public boolean isClosing() {
        return !running();
    }

    @Override
    protected boolean beforeFirstSession() {
        while (running() && !startWhen.getAsBoolean()) {
            if (!pauseWhileRunning(20)) {
                return false;
            }
        }
        return running();
    }

    @Override
    protected void session(Consumer<String, byte[]> c) {
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                // nothing pending: each poll is made durable and committed before the next one
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                assigned = true;
            }
        });
        long backoffMs = FIRST_BACKOFF_MS;
        while (running()) {
            ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(200));
            if (records.isEmpty()) {
                continue;
            }
            if (sink.apply(records)) {
                c.commitSync(nextOffsets(records));
                backoffMs = FIRST_BACKOFF_MS;
            } else {
                rewind(c, records);
                LOG.debug("{}: poll of {} records not durable; reading it again in {} ms", name(), records.count(), backoffMs);
                if (!pauseWhileRunning(backoffMs)) {
                    return;
                }
                backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
            }
        }
    }

    @Override
    protected void onFailure(RuntimeException e) {
        LOG.error("{}: failed; reading {} again from the committed offsets in 1 s", name(), topic, e);
    }

    private static Map<TopicPartition, OffsetAndMetadata> nextOffsets(ConsumerRecords<String, byte[]> records) {
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<String, byte[]>> rs = records.records(tp);
            next.put(tp, new OffsetAndMetadata(rs.get(rs.size() - 1).offset() + 1));
        }
        return next;
    }

    private static void rewind(Consumer<String, byte[]> c, ConsumerRecords<String, byte[]> records) {
        for (TopicPartition tp : records.partitions()) {
            c.seek(tp, records.records(tp).get(0).offset());
        }
    }
}
