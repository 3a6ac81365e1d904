package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** The disabled-endpoint image of the delivery topic, against the order its records are read back in. */
class DeliveryLogTest {
    private static final String TOPIC = "inferq.webhook-deliveries";

    private static ConsumerRecord<String, byte[]> record(long offset, String key, byte[] value) {
        return new ConsumerRecord<>(TOPIC, 0, offset, key, value);
    }

    @Test
    void aDisableReadBackAfterAReplayReEnabledTheEndpointDoesNotDisableItAgain() {
        DeliveryLog log = new DeliveryLog();
        var gone = new DeliveryLogCodec.DisabledEndpoint("acme", "http://hooks.example/h", 1_000, "receiver answered 410 Gone");
        log.disable(gone); // the failed attempt, locally; its record is on its way through the topic
        assertThat(log.enable(gone.key(), 1_010)).as("a replay re-enables it").isTrue();

        log.apply(record(7, gone.key(), DeliveryLogCodec.encode(gone))); // the failure's record, read back late
        assertThat(log.disabledEndpoint(gone.key())).as("written before the re-enable").isNull();

        log.apply(record(8, gone.key(), null)); // the re-enable's tombstone
        assertThat(log.disabledEndpoint(gone.key())).isNull();

        var goneAgain = new DeliveryLogCodec.DisabledEndpoint("acme", "http://hooks.example/h", 2_000, "receiver answered 410 Gone");
        log.apply(record(9, gone.key(), DeliveryLogCodec.encode(goneAgain)));
        assertThat(log.disabledEndpoint(gone.key())).as("a later failure disables it again").isEqualTo(goneAgain);
    }

    @Test
    void aDisableWrittenAfterTheReEnableStillCounts() {
        DeliveryLog log = new DeliveryLog();
        String key = DeliveryLogCodec.endpointKey("acme", "http://hooks.example/h");
        log.enable(key, 1_000);
        var later = new DeliveryLogCodec.DisabledEndpoint("acme", "http://hooks.example/h", 1_500, "receiver answered 410 Gone");
        log.apply(record(3, key, DeliveryLogCodec.encode(later))); // e.g. another process's attempt after the replay
        assertThat(log.disabledEndpoint(key)).isEqualTo(later);
    }
}
