package io.inferq.job.outcome;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class DeadLetterHeadersTest {
    private static String text(RecordHeaders h, String key) {
        return h.lastHeader(key) == null ? null : new String(h.lastHeader(key).value(), StandardCharsets.UTF_8);
    }

    @Test
    void writesConnectsAndSpringsConventionsAndTheErrorCode() {
        RecordHeaders h = new RecordHeaders();
        DeadLetterHeaders.add(h, new DeadLetterHeaders.Source("inferq.requests", 3, 42L, 1_700L, "CreateTime", "inferq-dispatcher",
                "inferq-dispatcher", "VALUE_CONVERTER", "io.inferq.Decoder"), new DeadLetterHeaders.Failure("x.Bad", "bad", "invalid_model"));
        assertThat(text(h, DeadLetterHeaders.CONNECT_TOPIC)).isEqualTo("inferq.requests");
        assertThat(text(h, DeadLetterHeaders.CONNECT_PARTITION)).isEqualTo("3");
        assertThat(text(h, DeadLetterHeaders.CONNECT_OFFSET)).isEqualTo("42");
        assertThat(text(h, DeadLetterHeaders.CONNECT_EXECUTING_CLASS)).isEqualTo("io.inferq.Decoder");
        assertThat(ByteBuffer.wrap(h.lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_PARTITION).value()).getInt()).isEqualTo(3);
        assertThat(ByteBuffer.wrap(h.lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_OFFSET).value()).getLong()).isEqualTo(42L);
        assertThat(ByteBuffer.wrap(h.lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_TIMESTAMP).value()).getLong()).isEqualTo(1_700L);
        assertThat(text(h, DeadLetterHeaders.SPRING_EXCEPTION_FQCN)).isEqualTo("x.Bad");
        assertThat(text(h, DeadLetterHeaders.ERROR_CODE)).isEqualTo("invalid_model");
    }

    @Test
    void aWorkersCopyHasNoReadPositionExtrasAndAnUnknownErrorIsNamed() {
        RecordHeaders h = new RecordHeaders();
        DeadLetterHeaders.add(h, new DeadLetterHeaders.Source("inferq.pool.p", 0, 7L, null, null, null, "inferq-worker", "PRODUCER", null),
                new DeadLetterHeaders.Failure(null, null, null));
        assertThat(h.lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_TIMESTAMP)).isNull();
        assertThat(h.lastHeader(DeadLetterHeaders.CONNECT_EXECUTING_CLASS)).isNull();
        assertThat(h.lastHeader(DeadLetterHeaders.ERROR_CODE)).isNull();
        assertThat(text(h, DeadLetterHeaders.CONNECT_EXCEPTION_CLASS)).isEqualTo("io.inferq.UnknownError");
        assertThat(text(h, DeadLetterHeaders.CONNECT_EXCEPTION_MESSAGE)).isEmpty();
    }

    @Test
    void credentialsAreNeverCopied() {
        assertThat(DeadLetterHeaders.copied("Inferq-API-Key")).isFalse();
        assertThat(DeadLetterHeaders.copied("inferq-origin-signature")).isFalse();
        assertThat(DeadLetterHeaders.copied("inferq-correlation-id")).isTrue();
    }
}
