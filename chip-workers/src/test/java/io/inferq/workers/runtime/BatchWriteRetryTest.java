package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.junit.jupiter.api.Test;

class BatchWriteRetryTest {

    /**
     * Once one record of a transaction is refused, the producer fails the records it had not sent yet with that same
     * exception instance: a job whose result went to a healthy topic then carries another job's
     * {@code RecordTooLargeException}. Such a shared refusal fails no job; the batch is written again one record at a
     * time, where the refusal is the too-large record's own and fails only its job.
     */
    @Test
    void aRefusalSharedByRecordsOfSeveralJobsFailsNoneAndTheIsolatedAttemptFindsItsOwner() throws InterruptedException {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Counter retries = registry.counter("retries");
        BatchWriteRetry retry = new BatchWriteRetry("b1", "pool", retries, registry.counter("abandoned"));
        RecordTooLargeException shared = new RecordTooLargeException("too large");
        retry.sends.add(new BatchWriteRetry.Sent("job_huge", BatchWriteRetry.SentKind.REPLY, CompletableFuture.failedFuture(shared)));
        retry.sends.add(new BatchWriteRetry.Sent("job_ok", BatchWriteRetry.SentKind.REPLY, CompletableFuture.failedFuture(shared)));
        retry.sends.add(new BatchWriteRetry.Sent("job_http", BatchWriteRetry.SentKind.RESULT, CompletableFuture.completedFuture(null)));

        assertThat(retry.writeAgainAfter(new KafkaException("commit failed", shared), null)).isTrue();
        assertThat(retry.failing).as("a shared refusal is pinned on no job").isEmpty();
        assertThat(retry.isolate).isTrue();

        // the isolated attempt stops at the first refused record, with its own exception
        retry.sends.add(new BatchWriteRetry.Sent("job_ok", BatchWriteRetry.SentKind.REPLY, CompletableFuture.completedFuture(null)));
        RecordTooLargeException own = new RecordTooLargeException("too large");
        retry.sends.add(new BatchWriteRetry.Sent("job_huge", BatchWriteRetry.SentKind.REPLY, CompletableFuture.failedFuture(own)));
        assertThat(retry.writeAgainAfter(new KafkaException("record of job job_huge refused", own), null)).isTrue();
        assertThat(retry.failing).containsOnlyKeys("job_huge");
        assertThat(retry.failing.get("job_huge").code()).isEqualTo(WriteFailure.RESULT_TOO_LARGE);
        assertThat(retries.count()).isEqualTo(2);
    }

    @Test
    void aRecordsOwnRefusalFailsItsJobAtOnce() throws InterruptedException {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        BatchWriteRetry retry = new BatchWriteRetry("b1", "pool", registry.counter("retries"), registry.counter("abandoned"));
        RecordTooLargeException own = new RecordTooLargeException("too large");
        retry.sends.add(new BatchWriteRetry.Sent("job_huge", BatchWriteRetry.SentKind.REPLY, CompletableFuture.failedFuture(own)));
        retry.sends.add(new BatchWriteRetry.Sent("job_ok", BatchWriteRetry.SentKind.REPLY, CompletableFuture.completedFuture(null)));

        assertThat(retry.writeAgainAfter(new KafkaException("commit failed", own), null)).isTrue();
        assertThat(retry.failing).containsOnlyKeys("job_huge");
        assertThat(retry.isolate).isFalse();
    }
}
