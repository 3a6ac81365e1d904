package io.inferq.broker.topics;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates the catalogue's topics that do not exist yet. Idempotent: running it again, or from two
 * processes at once, creates nothing twice and fails on nothing that already exists. An existing
 * topic with fewer partitions than declared is reported, never silently changed — except a pool's batch topic
 * ({@code inferq.pool.<id>}), which grows to the declared count: its records are keyed by batch id and no reader relies
 * on their order across batches, and every batch stream of an instance needs a partition of its own (the growth is
 * reported among the warnings).
 *
 * <p>Blocking: call it from a worker thread at start, never from an event loop.
 */
public final class TopicBootstrap {
    private final Admin admin;
    private final short replicationFactor;
    private final long timeoutMs;

    /**
     * @param replicationFactor 1 for the embedded broker, 3 for a production cluster
     */
    public TopicBootstrap(Admin admin, short replicationFactor, long timeoutMs) {
        if (replicationFactor < 1) {
            throw new IllegalArgumentException("replication factor must be at least 1, was " + replicationFactor);
        }
        this.admin = admin;
        this.replicationFactor = replicationFactor;
        this.timeoutMs = timeoutMs;
    }

    /** What a bootstrap run did. */
    public record Outcome(List<String> created, List<String> existing, List<String> warnings) {
    }

    /**
     * @return which topics were created and which already existed
     * @throws TopicBootstrapException when the cluster cannot be reached or refuses a topic
     */
    public Outcome ensure(Collection<TopicSpec> specs) {
        try {
            Set<String> present = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS);
            List<NewTopic> toCreate = new ArrayList<>();
            List<String> existing = new ArrayList<>();
            for (TopicSpec spec : specs) {
                if (present.contains(spec.name())) {
                    existing.add(spec.name());
                } else {
                    toCreate.add(new NewTopic(spec.name(), spec.partitions(), replicationFactor)
                            .configs(new HashMap<>(spec.configs())));
                }
            }
            List<String> created = new ArrayList<>();
            if (!toCreate.isEmpty()) {
                Map<String, org.apache.kafka.common.KafkaFuture<Void>> results = admin
                        .createTopics(toCreate, new CreateTopicsOptions().timeoutMs((int) timeoutMs)).values();
                for (var e : results.entrySet()) {
                    try {
                        e.getValue().get(timeoutMs, TimeUnit.MILLISECONDS);
                        created.add(e.getKey());
                    } catch (ExecutionException ex) {
                        if (ex.getCause() instanceof TopicExistsException) {
                            existing.add(e.getKey()); // another process won the race
                        } else {
                            throw new TopicBootstrapException("cannot create topic " + e.getKey() + ": "
                                    + ex.getCause().getMessage(), ex.getCause());
                        }
                    }
                }
            }
            List<String> warnings = checkPartitions(specs, existing);
            return new Outcome(List.copyOf(created), List.copyOf(existing), warnings);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TopicBootstrapException("interrupted while creating topics", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new TopicBootstrapException("cannot reach the Kafka cluster to create topics: " + e, e);
        }
    }

    private List<String> checkPartitions(Collection<TopicSpec> specs, List<String> existing)
            throws InterruptedException, ExecutionException, TimeoutException {
        if (existing.isEmpty()) {
            return List.of();
        }
        var described = admin.describeTopics(existing).allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS);
        List<String> warnings = new ArrayList<>();
        for (TopicSpec spec : specs) {
            var d = described.get(spec.name());
            if (d != null && d.partitions().size() < spec.partitions() && TopicCatalogue.isPoolTopic(spec.name())) {
                admin.createPartitions(Map.of(spec.name(), org.apache.kafka.clients.admin.NewPartitions.increaseTo(spec.partitions())))
                        .all().get(timeoutMs, TimeUnit.MILLISECONDS);
                warnings.add("topic " + spec.name() + " had " + d.partitions().size() + " partitions; raised to the "
                        + spec.partitions() + " configured (one per batch stream of the pool)");
            } else if (d != null && d.partitions().size() < spec.partitions()) {
                warnings.add("topic " + spec.name() + " has " + d.partitions().size()
                        + " partitions, fewer than the " + spec.partitions() + " configured; left unchanged");
            }
        }
        return List.copyOf(warnings);
    }

    /** The cluster could not be reached or refused to create a topic. */
    public static final class TopicBootstrapException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public TopicBootstrapException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
