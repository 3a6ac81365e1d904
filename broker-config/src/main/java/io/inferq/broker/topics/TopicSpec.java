package io.inferq.broker.topics;

import java.util.Map;
import java.util.Objects;

/**
 * One topic of the catalogue: name, partition count and topic-level configs.
 *
 * @param name        topic name
 * @param partitions  partition count, at least 1
 * @param configs     topic configs (cleanup.policy, retention.ms, ...)
 */
public record TopicSpec(String name, int partitions, Map<String, String> configs) {
    public TopicSpec {
        Objects.requireNonNull(name, "topic name must not be null");
        if (name.isBlank()) {
            throw new IllegalArgumentException("topic name must not be blank");
        }
        if (partitions < 1) {
            throw new IllegalArgumentException("topic " + name + ": partitions must be at least 1, was " + partitions);
        }
        configs = Map.copyOf(configs);
    }
}
