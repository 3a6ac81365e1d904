package io.inferq.broker.client;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Membership in a consumer group that divides a topic's partitions among processes: a process acts only on the
 * records of the partitions assigned to it (webhook deliveries, batches), and another takes over when it stops.
 * Scaling out is Kafka's group protocol, nothing home-made. The consumer pauses every partition it is given and polls
 * only to stay in the group: state is read elsewhere (a {@link TopicFollower}), and no offsets are committed.
 *
 * <p>{@code onChange} runs on the membership thread with the full owned set after each assignment change, and with
 * an empty set when the consumer failed (it rejoins after 1 s); it must hand off at once. {@link #owns} may be called
 * from any thread. {@link #close} leaves the group, so the partitions move to the other processes at once.
 */
public final class GroupMembership extends ConsumerThread {
    private static final Logger LOG = LoggerFactory.getLogger(GroupMembership.class);

    private final String topic;
    private final java.util.function.Consumer<Set<Integer>> onChange;
    private final Set<Integer> owned = ConcurrentHashMap.newKeySet();
    private volatile boolean assignedOnce;

    /**
     * @param name     thread name and client id
     * @param kafka    client settings
     * @param topic    the topic whose partitions are divided
     * @param groupId  the group
     * @param onChange told of the owned partitions after each change
     */
    public GroupMembership(String name, KafkaClientSettings kafka, String topic, String groupId,
            java.util.function.Consumer<Set<Integer>> onChange) {
        this(name, kafkaConsumers(kafka.consumer(name, groupId)), topic, onChange);
    }

    /** A membership whose consumers come from {@code consumers} (a {@code MockConsumer} in unit tests). */
    public GroupMembership(String name, Supplier<? extends Consumer<String, byte[]>> consumers, String topic,
            java.util.function.Consumer<Set<Integer>> onChange) {
        super(name, consumers, RESTART_DELAY, Duration.ofSeconds(15));
        this.topic = topic;
        this.onChange = onChange;
    }

    /** @return whether this process owns the partition now. Any thread. */
    public boolean owns(int partition) {
        return owned.contains(partition);
    }

    /** @return true once this process has had its first assignment (possibly empty) */
    public boolean assignedOnce() {
        return assignedOnce;
    }

    @Override
    protected void session(Consumer<String, byte[]> c) {
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                c.pause(partitions);
                partitions.forEach(tp -> owned.add(tp.partition()));
                assignedOnce = true;
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
        });
        while (running()) {
            c.poll(Duration.ofMillis(200)); // paused: returns nothing, keeps the membership alive
        }
    }

    @Override
    protected void onFailure(RuntimeException e) {
        LOG.error("{}: group consumer failed; rejoining in 1 s", name(), e);
        owned.clear();
        onChange.accept(Set.of());
    }

    @Override
    protected void afterClose() {
        owned.clear();
    }
}
