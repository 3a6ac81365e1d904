package io.inferq.broker.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka consumer on its own thread that hands records to a sink and commits, per partition, only
 * up to the lowest record not yet done — so records may be finished out of order and a crash never
 * skips one.
 *
 * <p><b>Threading.</b> The {@code KafkaConsumer} is touched only by the loop's thread. The sink is
 * called on that thread and must return quickly (hand the records to an event loop with
 * {@code runOnContext}, for example). {@link #done}, {@link #pause}, {@link #resume} and
 * {@link #close} may be called from any thread; their effect is applied by the loop thread between
 * polls.
 *
 * <p><b>Bounded.</b> At most {@code maxInFlight} records are delivered and not yet done; when the
 * bound is reached the loop pauses every partition, so excess records stay in Kafka.
 *
 * <p><b>Failure.</b> After a rebalance, records of revoked partitions that were not done are
 * redelivered to the new owner (at-least-once): downstream effects must be idempotent. Records are
 * keyed as raw bytes; decoding (and routing bad records to a DLQ) is the sink's job, so one poison
 * record never stops a partition.
 */
public final class KafkaPollLoop extends ConsumerThread {
    private static final Logger LOG = LoggerFactory.getLogger(KafkaPollLoop.class);

    private final Collection<String> topics;
    private final Consumer<List<ConsumerRecord<String, byte[]>>> sink;
    private final int maxInFlight;
    private final int maxPollRecords;
    private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
    private final ConcurrentLinkedQueue<ConsumerRecord<?, ?>> doneQueue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile java.util.function.Consumer<Collection<TopicPartition>> revokedHook = parts -> { };
    private final AtomicBoolean externallyPaused = new AtomicBoolean();
    private volatile boolean assignedOnce;
    private volatile boolean healthy;
    /** The current session's consumer; confined to the loop thread. */
    private org.apache.kafka.clients.consumer.Consumer<String, byte[]> consumer;
    private boolean paused;

    /**
     * @param name        thread name and log prefix
     * @param props       consumer properties with a {@code group.id} (see {@link KafkaClientSettings#consumer})
     * @param topics      topics to subscribe to
     * @param maxInFlight most records delivered and not yet done, at least 1
     * @param sink        receives each non-empty poll on the loop thread
     */
    public KafkaPollLoop(String name, Properties props, Collection<String> topics, int maxInFlight,
            Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        this(name, kafkaConsumers(withMaxPollRecords(props, maxPollRecords(maxInFlight))), topics, maxInFlight, sink);
    }

    /**
     * A loop whose consumers come from {@code consumers} (a {@code MockConsumer} in unit tests); they should return at
     * most {@code max(1, min(500, maxInFlight / 2))} records a poll.
     */
    public KafkaPollLoop(String name, Supplier<? extends org.apache.kafka.clients.consumer.Consumer<String, byte[]>> consumers,
            Collection<String> topics, int maxInFlight, Consumer<List<ConsumerRecord<String, byte[]>>> sink) {
        super(name, consumers, RESTART_DELAY, Duration.ofSeconds(15));
        if (maxInFlight < 1) {
            throw new IllegalArgumentException(name + ": max in-flight records must be at least 1, was " + maxInFlight);
        }
        this.topics = List.copyOf(topics);
        this.maxInFlight = maxInFlight;
        this.maxPollRecords = maxPollRecords(maxInFlight);
        this.sink = sink;
    }

    private static int maxPollRecords(int maxInFlight) {
        return Math.max(1, Math.min(500, maxInFlight / 2));
    }

    private static Properties withMaxPollRecords(Properties props, int maxPollRecords) {
        Properties p = new Properties();
        p.putAll(props);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(maxPollRecords));
        return p;
    }

    /** @return true once the consumer has joined its group and is polling without errors */
    public boolean isReady() {
        return assignedOnce && healthy;
    }

    /** @return records delivered to the sink and not yet done */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Calls {@code hook} (on the loop thread, after committing what was done) with the partitions this loop lost in a
     * rebalance: their records not yet done will be delivered again, to whichever consumer owns them now, so the sink
     * should forget them. Set before {@link #start}.
     */
    public void onRevoked(java.util.function.Consumer<Collection<TopicPartition>> hook) {
        this.revokedHook = hook;
    }

    /** Marks a delivered record as done; its offset becomes committable once every earlier one is done. */
    public void done(ConsumerRecord<?, ?> record) {
        doneQueue.add(record);
    }

    /** Stops fetching (records stay in Kafka) until {@link #resume}. */
    public void pause() {
        externallyPaused.set(true);
    }

    public void resume() {
        externallyPaused.set(false);
        wakeup();
    }

    @Override
    protected void session(org.apache.kafka.clients.consumer.Consumer<String, byte[]> c) {
        // a new consumer rejoins the group and starts from the committed offsets: nothing of an earlier one is pending
        progress.clear();
        doneQueue.clear();
        inFlight.set(0);
        paused = false;
        consumer = c;
        try {
            c.subscribe(topics, new Rebalance());
            while (running()) {
                applyDone();
                applyPause();
                try {
                    ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(100));
                    healthy = true;
                    if (!records.isEmpty()) {
                        List<ConsumerRecord<String, byte[]>> list = new ArrayList<>(records.count());
                        for (ConsumerRecord<String, byte[]> r : records) {
                            progressOf(new TopicPartition(r.topic(), r.partition())).delivered(r.offset());
                            list.add(r);
                        }
                        inFlight.addAndGet(list.size());
                        sink.accept(list);
                    }
                    commitDone(false);
                } catch (WakeupException e) {
                    // resume() or close(): loop around
                } catch (RuntimeException e) {
                    healthy = false;
                    LOG.error("{}: poll failed, retrying in 1 s", name(), e);
                    pauseWhileRunning(1000);
                }
            }
            applyDone();
            commitDone(true);
        } finally {
            healthy = false;
            consumer = null;
        }
    }

    private void applyDone() {
        ConsumerRecord<?, ?> r;
        while ((r = doneQueue.poll()) != null) {
            PartitionProgress pp = progress.get(new TopicPartition(r.topic(), r.partition()));
            if (pp != null && pp.done(r.offset())) {
                inFlight.decrementAndGet();
            }
        }
    }

    private void applyPause() {
        // pause unless a whole poll fits under the bound, so in-flight never exceeds maxInFlight
        boolean shouldPause = externallyPaused.get() || inFlight.get() + maxPollRecords > maxInFlight;
        if (shouldPause != paused) {
            if (shouldPause) {
                consumer.pause(consumer.assignment());
            } else {
                consumer.resume(consumer.paused());
            }
            paused = shouldPause;
        } else if (paused) {
            consumer.pause(consumer.assignment()); // partitions assigned since pausing
        }
    }

    private void commitDone(boolean sync) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (var e : progress.entrySet()) {
            long next = e.getValue().committable();
            if (e.getValue().highestDelivered >= 0 && next > e.getValue().committed) {
                offsets.put(e.getKey(), new OffsetAndMetadata(next));
                e.getValue().committed = next;
            }
        }
        if (offsets.isEmpty()) {
            return;
        }
        try {
            if (sync) {
                consumer.commitSync(offsets, Duration.ofSeconds(10));
            } else {
                consumer.commitAsync(offsets, (o, ex) -> {
                    if (ex != null) {
                        LOG.warn("{}: offset commit failed (will retry with the next commit): {}", name(), ex.toString());
                        o.forEach((tp, om) -> {
                            PartitionProgress pp = progress.get(tp);
                            if (pp != null && pp.committed == om.offset()) {
                                pp.committed = -1;
                            }
                        });
                    }
                });
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: offset commit failed: {}", name(), e.toString());
        }
    }

    private PartitionProgress progressOf(TopicPartition tp) {
        return progress.computeIfAbsent(tp, k -> new PartitionProgress());
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            applyDone();
            commitDone(true);
            forget(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            assignedOnce = true;
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            forget(partitions);
        }

        private void forget(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                PartitionProgress pp = progress.remove(tp);
                if (pp != null) {
                    inFlight.addAndGet(-pp.pending.size());
                }
            }
            if (!partitions.isEmpty()) {
                try {
                    revokedHook.accept(partitions);
                } catch (RuntimeException e) {
                    LOG.warn("{}: revocation hook failed: {}", name(), e.toString());
                }
            }
        }
    }

    /** Offsets of one partition delivered and not done; confined to the loop thread. */
    private static final class PartitionProgress {
        final NavigableSet<Long> pending = new TreeSet<>();
        long highestDelivered = -1;
        long committed = -1;

        void delivered(long offset) {
            pending.add(offset);
            highestDelivered = Math.max(highestDelivered, offset);
        }

        boolean done(long offset) {
            return pending.remove(offset);
        }

        long committable() {
            return pending.isEmpty() ? highestDelivered + 1 : pending.first();
        }
    }
}
