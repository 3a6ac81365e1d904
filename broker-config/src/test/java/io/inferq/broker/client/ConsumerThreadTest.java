package io.inferq.broker.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The consumer-thread base and its variants against Kafka's {@code MockConsumer}: no broker. */
class ConsumerThreadTest {
    private static final String TOPIC = "t";
    private static final TopicPartition TP = new TopicPartition(TOPIC, 0);

    /**
     * A mock consumer that remembers what was committed (also after it is closed) and, like a real log, offers the
     * records again after a seek back (a plain {@code MockConsumer} forgets records once polled).
     */
    private static final class RecordingConsumer extends MockConsumer<String, byte[]> {
        final Map<TopicPartition, Long> commits;
        final List<ConsumerRecord<String, byte[]>> log = new CopyOnWriteArrayList<>();

        RecordingConsumer(Map<TopicPartition, Long> commits) {
            super("earliest");
            this.commits = commits;
        }

        void append(ConsumerRecord<String, byte[]> r) {
            log.add(r);
            addRecord(r);
        }

        @Override
        public synchronized void seek(TopicPartition tp, long offset) {
            super.seek(tp, offset);
            schedulePollTask(() -> log.stream().filter(r -> r.offset() >= offset).forEach(this::addRecord));
        }

        @Override
        public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            super.commitSync(offsets);
            offsets.forEach((tp, om) -> commits.put(tp, om.offset()));
        }
    }

    private static ConsumerRecord<String, byte[]> record(long offset) {
        return new ConsumerRecord<>(TOPIC, 0, offset, "k" + offset, new byte[] {(byte) offset});
    }

    @Test
    void restartsAfterAFailureAndCommitsOnlyWhatTheSinkMadeDurable() {
        Map<TopicPartition, Long> commits = new ConcurrentHashMap<>();
        List<RecordingConsumer> made = new CopyOnWriteArrayList<>();
        Supplier<RecordingConsumer> consumers = () -> {
            RecordingConsumer c = new RecordingConsumer(commits);
            c.updateBeginningOffsets(Map.of(TP, 0L));
            if (made.isEmpty()) {
                c.setPollException(new KafkaException("broker gone")); // the first consumer fails at its first poll
            } else {
                c.schedulePollTask(() -> {
                    c.rebalance(List.of(TP));
                    for (long o = 0; o < 3; o++) {
                        c.append(record(o));
                    }
                });
            }
            made.add(c);
            return c;
        };
        AtomicInteger calls = new AtomicInteger();
        List<Long> committedWhenSinkCalled = new CopyOnWriteArrayList<>();
        List<Integer> sizes = new CopyOnWriteArrayList<>();
        var loop = new CommittingBatchConsumer("test-creator", consumers, TOPIC, () -> true, records -> {
            committedWhenSinkCalled.add(commits.getOrDefault(TP, -1L));
            sizes.add(records.count());
            return calls.incrementAndGet() > 1; // the first effect is not durable: the poll must be read again
        });
        loop.start();
        try {
            await(() -> commits.getOrDefault(TP, -1L) == 3L, "offsets committed after the durable retry");
            assertThat(made).hasSizeGreaterThanOrEqualTo(2); // a new consumer after the failure
            assertThat(made.get(0).closed()).isTrue();
            assertThat(sizes).startsWith(3, 3); // the rewound poll came again, whole
            assertThat(committedWhenSinkCalled).startsWith(-1L, -1L); // nothing committed before the effect was durable
            assertThat(loop.isReady()).isTrue();
        } finally {
            loop.close();
        }
        assertThat(loop.isClosing()).isTrue();
        assertThat(made.get(made.size() - 1).closed()).isTrue(); // stop closes the consumer
        assertThat(calls.get()).isEqualTo(2);
    }

    @Test
    void committingConsumerWaitsForItsStartConditionAndStopsWhileWaiting() {
        AtomicInteger made = new AtomicInteger();
        BooleanSupplier never = () -> false;
        var loop = new CommittingBatchConsumer("test-gated", () -> {
            made.incrementAndGet();
            return new MockConsumer<String, byte[]>("earliest");
        }, TOPIC, never, records -> true);
        loop.start();
        loop.close(); // returns promptly although the condition never held
        assertThat(made.get()).isZero();
    }

    @Test
    void followerGoesOnAfterTheLastRecordHandedToTheSinkWhenItsConsumerFails() {
        List<Long> seen = new CopyOnWriteArrayList<>();
        List<MockConsumer<String, byte[]>> made = new CopyOnWriteArrayList<>();
        Supplier<MockConsumer<String, byte[]>> consumers = () -> {
            MockConsumer<String, byte[]> c = new MockConsumer<>("earliest");
            c.updatePartitions(TOPIC, List.of(new PartitionInfo(TOPIC, 0, Node.noNode(), new Node[0], new Node[0])));
            c.updateBeginningOffsets(Map.of(TP, 0L));
            c.updateEndOffsets(Map.of(TP, 4L));
            boolean first = made.isEmpty();
            c.schedulePollTask(() -> {
                for (long o = 0; o < 4; o++) {
                    c.addRecord(record(o)); // the second consumer is offered all four again: it must seek past 0-1
                }
                if (first) {
                    c.setMaxPollRecords(2);
                }
            });
            if (first) {
                c.schedulePollTask(() -> c.setPollException(new KafkaException("connection lost")));
            }
            made.add(c);
            return c;
        };
        AtomicInteger caughtUp = new AtomicInteger();
        TopicFollower follower = TopicFollower.perRecord("test-follower", consumers, TOPIC, TopicFollower.Start.BEGINNING,
                r -> seen.add(r.offset())).onCaughtUp(caughtUp::incrementAndGet);
        follower.start();
        try {
            // the caught-up callback runs on the follower's thread after it marks itself caught up: wait for both
            await(() -> seen.size() >= 4 && follower.isCaughtUp() && caughtUp.get() >= 1, "all records after the restart");
            assertThat(made).hasSizeGreaterThanOrEqualTo(2);
            assertThat(seen).containsExactly(0L, 1L, 2L, 3L);
            assertThat(caughtUp.get()).isEqualTo(1);
            assertThat(follower.hasReached(Map.of(TP, 4L))).isTrue();
        } finally {
            follower.close();
        }
    }

    @Test
    void membershipReportsItsPartitionsAndLosesThemWhenItsConsumerFails() {
        List<Set<Integer>> changes = new CopyOnWriteArrayList<>();
        AtomicInteger made = new AtomicInteger();
        GroupMembership membership = new GroupMembership("test-membership", () -> {
            MockConsumer<String, byte[]> c = new MockConsumer<>("earliest");
            int n = made.incrementAndGet();
            c.updateBeginningOffsets(Map.of(TP, 0L, new TopicPartition(TOPIC, 1), 0L));
            c.schedulePollTask(() -> c.rebalance(List.of(TP, new TopicPartition(TOPIC, 1))));
            if (n == 1) {
                c.schedulePollTask(() -> c.setPollException(new KafkaException("fenced")));
            }
            return c;
        }, TOPIC, changes::add);
        membership.start();
        try {
            await(() -> made.get() >= 2 && membership.owns(1), "rejoined after the failure");
            assertThat(changes).startsWith(Set.of(0, 1), Set.of());
            assertThat(membership.assignedOnce()).isTrue();
        } finally {
            membership.close();
        }
        assertThat(membership.owns(0)).isFalse();
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.onSpinWait();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
