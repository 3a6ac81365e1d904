package io.inferq.loadtests.bench;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * When the dispatcher sent each of some jobs to a pool: the {@code at_ms} of each job's first {@code dispatched}
 * event on {@code inferq.job-events}, read from the topic's beginning to its current end. Splits a job's queued →
 * started time into the dispatcher's part (intake and decision) and the pool's part (pool topic, worker slot).
 * Runs on the caller's thread; a few seconds for a topic of a few hundred thousand events.
 */
final class DispatchTimes {
    private DispatchTimes() {
    }

    static Map<String, Long> read(String bootstrap, Set<String> jobIds) {
        Map<String, Long> at = new HashMap<>();
        if (jobIds.isEmpty()) {
            return at;
        }
        AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
        Properties p = KafkaClientSettings.of(bootstrap).consumer("inferq-load-dispatch-times", null);
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(TopicCatalogue.JOB_EVENTS, Duration.ofSeconds(30)).stream()
                    .map(pi -> new TopicPartition(pi.topic(), pi.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (System.nanoTime() < deadline && parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.value() == null || !jobIds.contains(r.key())) {
                        continue;
                    }
                    JobEvent e = serde.decode(r.value());
                    if (e.getStatus() == JobStatusCode.DISPATCHED) {
                        at.putIfAbsent(e.getJobId(), e.getAtMs());
                    }
                }
            }
        }
        return at;
    }
}
