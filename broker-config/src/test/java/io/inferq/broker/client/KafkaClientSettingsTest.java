package io.inferq.broker.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class KafkaClientSettingsTest {

    private final KafkaClientSettings settings = new KafkaClientSettings("broker-1:9092", Map.ofEntries(
            Map.entry("linger.ms", "20"),
            Map.entry("security.protocol", "SASL_SSL"),
            Map.entry("max.poll.records", "50"),
            Map.entry("retry.backoff.ms", "40"),
            // attempts to weaken safety or change identity: ignored
            Map.entry("acks", "0"),
            Map.entry("enable.idempotence", "false"),
            Map.entry("enable.auto.commit", "true"),
            Map.entry("isolation.level", "read_uncommitted"),
            Map.entry("transactional.id", "someone-else"),
            Map.entry("group.id", "someone-elses-group"),
            Map.entry("bootstrap.servers", "elsewhere:9092"),
            Map.entry("client.id", "spoofed")));

    @Test
    void overridesWinOverTheDefaultsOfEveryClient() {
        Properties producer = settings.producer("ingress");
        assertThat(producer.getProperty("linger.ms")).isEqualTo("20");
        assertThat(producer.getProperty("security.protocol")).isEqualTo("SASL_SSL");
        assertThat(producer.getProperty("compression.type")).isEqualTo("lz4"); // a default nobody overrode
        assertThat(settings.consumer("reader", "group-a").getProperty("max.poll.records")).isEqualTo("50");
        assertThat(settings.transactionalProducer("worker", "tx-1").getProperty("retry.backoff.ms")).isEqualTo("40");
    }

    @Test
    void safetyIdentityAndAddressCannotBeOverridden() {
        Properties producer = settings.producer("ingress");
        assertThat(producer.getProperty("acks")).isEqualTo("all");
        assertThat(producer.getProperty("enable.idempotence")).isEqualTo("true");
        assertThat(producer.getProperty("bootstrap.servers")).isEqualTo("broker-1:9092");
        assertThat(producer.getProperty("client.id")).isEqualTo("ingress");

        Properties tx = settings.transactionalProducer("worker", "tx-1");
        assertThat(tx.getProperty("transactional.id")).isEqualTo("tx-1");
        assertThat(tx.getProperty("acks")).isEqualTo("all");

        Properties consumer = settings.consumer("reader", "group-a");
        assertThat(consumer.getProperty("enable.auto.commit")).isEqualTo("false");
        assertThat(consumer.getProperty("isolation.level")).isEqualTo("read_committed");
        assertThat(consumer.getProperty("group.id")).isEqualTo("group-a");
    }

    @Test
    void groupConsumersUseAShortSessionAndBecomeStaticMembersWithAnInstancePrefix() {
        KafkaClientSettings dynamic = KafkaClientSettings.of("b:9092");
        assertThat(dynamic.consumer("reader", "g").getProperty("session.timeout.ms")).isEqualTo("10000");
        assertThat(dynamic.consumer("reader", "g").getProperty("group.instance.id")).isNull();
        assertThat(dynamic.consumer("follower", null).getProperty("session.timeout.ms")).isNull();

        KafkaClientSettings fixed = new KafkaClientSettings("b:9092", Map.of("session.timeout.ms", "30000"), "host-a-1f2e");
        assertThat(fixed.consumer("reader", "g").getProperty("group.instance.id")).isEqualTo("host-a-1f2e.reader");
        assertThat(fixed.consumer("reader", "g").getProperty("session.timeout.ms")).as("the override wins").isEqualTo("30000");
        assertThat(fixed.consumer("follower", null).getProperty("group.instance.id")).isNull();
    }

    @Test
    void aConsumerWithoutAGroupGetsNoneFromTheOverrides() {
        assertThat(settings.consumer("follower", null).getProperty("group.id")).isNull();
    }

    @Test
    void theTransactionalProducerRetriesSoonAfterAConcurrentTransaction() {
        Properties tx = KafkaClientSettings.of("b:9092").transactionalProducer("worker", "tx-1");
        assertThat(tx.getProperty("retry.backoff.ms")).isEqualTo(String.valueOf(KafkaClientSettings.TRANSACTIONAL_RETRY_BACKOFF_MS));
        assertThat(KafkaClientSettings.of("b:9092").producer("ingress").getProperty("retry.backoff.ms")).isNull();
    }
}
