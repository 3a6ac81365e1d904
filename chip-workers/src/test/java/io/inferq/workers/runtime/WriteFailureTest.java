package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;

class WriteFailureTest {
    @Test
    void aRecordsOwnPermanentErrorFailsItsJob() {
        assertThat(WriteFailure.classify(new RecordTooLargeException("too large"), true).code()).isEqualTo(WriteFailure.RESULT_TOO_LARGE);
        WriteFailure topic = WriteFailure.classify(new InvalidTopicException("bad"), true);
        assertThat(topic.code()).isEqualTo(WriteFailure.REPLY_TOPIC_NOT_WRITABLE);
        assertThat(topic.replyTopic()).isTrue();
    }

    @Test
    void aTransientErrorIsRetriedNotFailed() {
        assertThat(WriteFailure.classify(new TimeoutException("slow"), true)).isNull();
    }

    /**
     * A send refused because an earlier record of the same transaction failed carries that record's error as its cause:
     * the later record's job must not be blamed for it (it was a race: whether the later send came before or after the
     * failed record's answer decided which jobs failed).
     */
    @Test
    void aSendRefusedForAnotherRecordsFailureBlamesNoOne() {
        KafkaException refused = new KafkaException("Cannot perform send because at least one previous transactional or"
                + " idempotent request has failed with errors.", new RecordTooLargeException("another record"));
        assertThat(WriteFailure.classify(refused, true)).isNull();
        assertThat(WriteFailure.classify(refused, false)).isNull();
    }
}
