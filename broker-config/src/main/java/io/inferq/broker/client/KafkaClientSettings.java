package io.inferq.broker.client;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

/**
 * Kafka client settings for every inferq producer and consumer, in one place.
 *
 * <p>Producers are idempotent with {@code acks=all}; consumers never auto-commit and read only
 * committed records. {@code overrides} (for example SASL/TLS settings of an external cluster) are
 * applied to every client after the defaults, except that the safety settings above cannot be
 * weakened. Immutable and thread-safe.
 *
 * @param bootstrapServers {@code host:port[,host:port...]}
 * @param overrides        extra client properties for every client
 */
public record KafkaClientSettings(String bootstrapServers, Map<String, String> overrides) {
    public KafkaClientSettings {
        Objects.requireNonNull(bootstrapServers, "kafka.bootstrap-servers must be set");
        if (bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("kafka.bootstrap-servers must not be blank");
        }
        overrides = Map.copyOf(overrides);
    }

    public static KafkaClientSettings of(String bootstrapServers) {
        return new KafkaClientSettings(bootstrapServers, Map.of());
    }

    /** Idempotent producer, acks=all, a small linger to batch records of a burst. */
    public Properties producer(String clientId) {
        Properties p = common(clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        return enforceProducerSafety(p);
    }

    /** A transactional producer: results, events and consumed offsets commit together. */
    public Properties transactionalProducer(String clientId, String transactionalId) {
        Properties p = producer(clientId);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "120000");
        return p;
    }

    /** A consumer in a group: manual commits, read_committed, start from the earliest record. */
    public Properties consumer(String clientId, String groupId) {
        Properties p = common(clientId);
        if (groupId != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        }
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
        return enforceConsumerSafety(p);
    }

    private Properties common(String clientId) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId);
        Map<String, String> extra = new HashMap<>(overrides);
        p.putAll(extra);
        return p;
    }

    private static Properties enforceProducerSafety(Properties p) {
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        return p;
    }

    private static Properties enforceConsumerSafety(Properties p) {
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        return p;
    }
}
