package io.inferq.dispatcher.runtime.contract;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;

/** Test fixtures: request records as the dispatcher's consumer would see them. */
final class ContractRecords {
    static final long PRODUCED_AT = Instant.parse("2025-06-01T12:00:00Z").toEpochMilli();
    static final Clock CLOCK = Clock.fixed(Instant.ofEpochMilli(PRODUCED_AT + 3_600_000), ZoneOffset.UTC);
    static final List<ServedModelLimits> MODELS = List.of(new ServedModelLimits("deepseek-v2-lite", 32_768, 16_384),
            new ServedModelLimits("deepseek-r1", 131_072, 32_768));

    private ContractRecords() {
    }

    static KafkaRequestContract open() {
        return KafkaRequestContract.forTenants(MODELS, Map.of(), CLOCK);
    }

    static KafkaRequestContract withTenants() {
        return KafkaRequestContract.forTenants(MODELS, Map.of("acme", List.of("sk-acme-1", "sk-acme-2"), "globex", List.of("sk-globex")), CLOCK);
    }

    static ConsumerRecord<String, byte[]> record(String topic, long offset, byte[] value, String... headers) {
        RecordHeaders h = new RecordHeaders();
        for (int i = 0; i + 1 < headers.length; i += 2) {
            h.add(headers[i], headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
        return new ConsumerRecord<>(topic, 0, offset, PRODUCED_AT, TimestampType.CREATE_TIME, -1, value == null ? -1 : value.length,
                "session-1", value, h, Optional.empty());
    }

    static ConsumerRecord<String, byte[]> json(String body, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = ContractHeaders.CONTENT_TYPE;
        all[1] = ContractHeaders.JSON;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return record("inferq.requests", 42, body.getBytes(StandardCharsets.UTF_8), all);
    }

    static String chat(String extra) {
        return "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"Classify: my invoice is wrong\"}]"
                + (extra.isEmpty() ? "" : "," + extra) + "}";
    }
}
