package io.inferq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.broker.topics.TopicSpec;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;

class TopicBootstrapTest {

    private static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaBroker.bootstrapServers());
        return Admin.create(p);
    }

    @Test
    void aPoolTopicHasAPartitionForEveryInstance() throws Exception {
        List<TopicSpec> specs = TopicCatalogue.topics(3, java.util.Map.of("big-pool", 5, "small-pool", 2));
        try (Admin admin = admin()) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(specs);
            var topics = describedOnceKnown(admin, List.of("inferq.pool.big-pool", "inferq.pool.small-pool"));
            assertThat(topics.get("inferq.pool.big-pool").partitions()).hasSize(5);
            assertThat(topics.get("inferq.pool.small-pool").partitions()).as("never fewer than kafka.partitions").hasSize(3);
        }
    }

    /** The topics' descriptions, once the broker's metadata knows them (it may lag the creation briefly). */
    private static java.util.Map<String, org.apache.kafka.clients.admin.TopicDescription> describedOnceKnown(Admin admin, List<String> names)
            throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                return admin.describeTopics(names).allTopicNames().get();
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L); // poll the metadata, not the clock
            }
        }
    }

    @Test
    void createsTheCatalogueOnceAndIsIdempotent() throws Exception {
        List<TopicSpec> specs = TopicCatalogue.topics(3, List.of("h800-r1", "ascend-910b-v3"));
        try (Admin admin = admin()) {
            TopicBootstrap bootstrap = new TopicBootstrap(admin, (short) 1, 30_000);
            TopicBootstrap.Outcome first = bootstrap.ensure(specs);
            assertThat(first.created()).contains(TopicCatalogue.REQUESTS, TopicCatalogue.JOB_EVENTS,
                    "inferq.pool.h800-r1", "inferq.pool.ascend-910b-v3");

            TopicBootstrap.Outcome second = bootstrap.ensure(specs);
            assertThat(second.created()).isEmpty();
            assertThat(second.existing()).hasSize(specs.size());
            assertThat(second.warnings()).isEmpty();

            var cfg = admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, TopicCatalogue.JOB_EVENTS)))
                    .all().get().values().iterator().next();
            assertThat(cfg.get("cleanup.policy").value()).isEqualTo("compact,delete");
            assertThat(admin.describeTopics(List.of(TopicCatalogue.REQUESTS)).allTopicNames().get()
                    .get(TopicCatalogue.REQUESTS).partitions()).hasSize(3);
        }
    }

    @Test
    void reportsAnExistingTopicWithFewerPartitionsWithoutChangingIt() {
        try (Admin admin = admin()) {
            TopicBootstrap bootstrap = new TopicBootstrap(admin, (short) 1, 30_000);
            bootstrap.ensure(List.of(new TopicSpec("bootstrap-test.narrow", 1, Map.of())));
            TopicBootstrap.Outcome again = bootstrap.ensure(List.of(new TopicSpec("bootstrap-test.narrow", 4, Map.of())));
            assertThat(again.warnings()).singleElement().asString()
                    .contains("bootstrap-test.narrow has 1 partitions, fewer than the 4 configured");
        }
    }

    @Test
    void growsAPoolTopicCreatedWithFewerPartitionsThanItHasStreams() throws Exception {
        try (Admin admin = admin()) {
            TopicBootstrap bootstrap = new TopicBootstrap(admin, (short) 1, 30_000);
            bootstrap.ensure(TopicCatalogue.topics(1, Map.of("grow-pool", 2)).stream()
                    .filter(t -> t.name().equals("inferq.pool.grow-pool")).toList());
            TopicBootstrap.Outcome again = bootstrap.ensure(TopicCatalogue.topics(1, Map.of("grow-pool", 4)).stream()
                    .filter(t -> t.name().equals("inferq.pool.grow-pool")).toList());
            assertThat(again.warnings()).singleElement().asString()
                    .contains("inferq.pool.grow-pool had 2 partitions; raised to the 4 configured");
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (describedOnceKnown(admin, List.of("inferq.pool.grow-pool")).get("inferq.pool.grow-pool").partitions().size() < 4
                    && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L); // poll the metadata, not the clock
            }
            assertThat(describedOnceKnown(admin, List.of("inferq.pool.grow-pool")).get("inferq.pool.grow-pool").partitions())
                    .hasSize(4);
        }
    }

    @Test
    void refusesPoolIdsThatCannotNameATopic() {
        assertThatThrownBy(() -> TopicCatalogue.poolTopic("H800 pool"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pool id 'H800 pool' must be 1-63 characters");
    }
}
