package io.inferq.workers.runtime;

import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.workers.backend.SequenceOutcome;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the slot learnt about one batch it is writing, across its attempts (slot thread only; one per batch in flight,
 * so bounded by the slot's batches): which jobs fail because their outcome cannot be written, the engine outcomes (a
 * batch written again does not run its jobs again), and the last attempt's records.
 *
 * <p>It also decides, after a failed transaction, how the batch is written again ({@link #writeAgainAfter}): the
 * retry policy of a worker's writes.
 */
final class BatchWriteRetry {
    private static final Logger LOG = LoggerFactory.getLogger(BatchWriteRetry.class);

    /** What a record of the batch's transaction was, to tell from its acknowledgement which job a refusal belongs to. */
    enum SentKind { EVENT, RESULT, REPLY, DEAD_LETTER, HAND_BACK }

    record Sent(String jobId, SentKind kind, java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> ack) {
    }

    final String batchId;
    /** Failed attempts at writing the batch so far. */
    int attempts;
    boolean transactionOpen;
    final Map<String, WriteFailure> failing = new java.util.HashMap<>();
    final java.util.Set<String> noDeadLetter = new java.util.HashSet<>();
    final java.util.Set<String> abandoned = new java.util.HashSet<>();
    final Map<String, SequenceOutcome> outcomes = new java.util.HashMap<>();
    final Map<String, String> replyTopics = new java.util.HashMap<>();
    /** Jobs whose result write to a reply topic failed by itself with a transient error, in some attempt. */
    final java.util.Set<String> suspects = new java.util.HashSet<>();
    final List<Sent> sends = new ArrayList<>();
    private final String poolId;
    private final Counter writeRetries;
    private final Counter abandonedJobs;

    BatchWriteRetry(String batchId, String poolId, Counter writeRetries, Counter abandonedJobs) {
        this.batchId = batchId;
        this.poolId = poolId;
        this.writeRetries = writeRetries;
        this.abandonedJobs = abandonedJobs;
    }

    /**
     * After the batch's transaction failed: aborts it and decides how the batch is written again. A record refused for
     * good (invalid or unauthorised topic, too large, not serialisable: {@link WriteFailure#classify}) fails its job —
     * the next attempt writes that job as {@code failed}, with a dead-letter copy, and the batch's other jobs as they
     * ended — at once. Anything else is retried after a growing delay ({@value WorkerSlot#WRITE_RETRY_MIN_MS} ms doubling to
     * {@value WorkerSlot#WRITE_RETRY_MAX_MS} ms); after {@value WorkerSlot#MAX_WRITE_ATTEMPTS} failed attempts the jobs whose results go to
     * a reply topic (the one destination a producer chose) fail with {@code result_write_failed}. When only inferq's own
     * topics are left, Kafka itself is failing: the batch is retried at the longest delay for as long as it takes.
     *
     * @return false when the producer is unusable (fenced, fatal error, abort failed): the caller restarts the clients
     */
    boolean writeAgainAfter(KafkaException e, KafkaProducer<String, byte[]> tx) throws InterruptedException {
        if (e instanceof ProducerFencedException || e instanceof org.apache.kafka.common.errors.InvalidProducerEpochException
                || e instanceof org.apache.kafka.common.errors.AuthenticationException
                || e instanceof org.apache.kafka.common.errors.TransactionalIdAuthorizationException
                || e instanceof org.apache.kafka.common.errors.ClusterAuthorizationException
                || e instanceof org.apache.kafka.common.errors.UnsupportedVersionException) {
            return false;
        }
        if (transactionOpen) {
            transactionOpen = false;
            try {
                tx.abortTransaction();
            } catch (RuntimeException abort) {
                // a commit that timed out cannot be aborted while the writes it waits for are pending (a reply topic deleted
                // since the producer learnt its partitions waits out delivery.timeout.ms): those writes to reply topics are
                // the ones to blame. The producer is dropped at once; the new one's initTransactions aborts the transaction.
                for (Sent s : sends) {
                    if (s.kind() == SentKind.REPLY && !s.ack().isDone()) {
                        suspects.add(s.jobId());
                    }
                }
                sends.clear();
                attempts++;
                if (attempts >= WorkerSlot.MAX_WRITE_ATTEMPTS) {
                    failReplyTopicJobs(e);
                }
                LOG.warn("pool {}: batch {} not committed ({}), attempt {}; its clients restart", poolId, batchId,
                        e.toString(), attempts);
                writeRetries.increment();
                tx.close(Duration.ZERO);
                return false;
            }
        }
        attempts++;
        boolean learnt = attributeFailures();
        sends.clear(); // read once: a later failure before the next transaction must not read them again
        if (learnt) {
            writeRetries.increment();
            return true; // the next attempt leaves the failed jobs' records out
        }
        if (attempts >= WorkerSlot.MAX_WRITE_ATTEMPTS && failReplyTopicJobs(e)) {
            writeRetries.increment();
            return true;
        }
        if (!(e instanceof org.apache.kafka.common.errors.RetriableException) && attempts >= WorkerSlot.MAX_WRITE_ATTEMPTS) {
            return false;
        }
        long delay = WorkerSlot.WRITE_BACKOFF.delayMs(attempts - 1);
        LOG.warn("pool {}: batch {} not committed ({}), attempt {}; written again in {} ms", poolId, batchId,
                e.toString(), attempts, delay);
        writeRetries.increment();
        Thread.sleep(delay);
        return true;
    }

    /**
     * The batch's next attempts send its records one at a time, each acknowledged before the next is sent, so that a
     * refusal names its own record: set when a failed transaction's refusal could not be pinned on one record (batch
     * thread only).
     */
    boolean isolate;

    /**
     * Reads the acknowledgements of the failed transaction's records and marks the jobs whose records were refused for
     * good. A job that already failed this way and is refused again is given up (it publishes nothing more; logged and
     * counted) rather than stall the pool; a refused dead-letter copy is left out of the next attempt.
     *
     * <p>A refusal shared by several records is not pinned on any of them: once one record of a transaction is refused,
     * the producer fails the records it had not sent yet with that same exception (the transaction can only abort), so
     * records to healthy topics would carry, say, another record's {@code RecordTooLargeException}. The batch is then
     * written again with {@link #isolate}, where every refusal is the record's own.
     *
     * @return whether anything was learnt, so that the next attempt differs from this one
     */
    private boolean attributeFailures() {
        boolean learnt = false;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        List<Sent> refused = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        Map<Throwable, Integer> sharing = new java.util.IdentityHashMap<>();
        for (Sent s : sends) {
            Throwable error;
            try {
                s.ack().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                continue;
            } catch (java.util.concurrent.ExecutionException ee) {
                error = ee.getCause();
            } catch (java.util.concurrent.TimeoutException te) {
                continue;
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                break;
            }
            refused.add(s);
            errors.add(error);
            sharing.merge(error, 1, Integer::sum);
        }
        for (int i = 0; i < refused.size(); i++) {
            Sent s = refused.get(i);
            Throwable error = errors.get(i);
            WriteFailure f = WriteFailure.classify(error, s.kind() == SentKind.REPLY);
            if (f == null) {
                if (s.kind() == SentKind.REPLY && error instanceof org.apache.kafka.common.errors.RetriableException) {
                    suspects.add(s.jobId()); // its own write failed (not just aborted with the rest): the one to blame at the limit
                }
                continue;
            }
            if (sharing.get(error) > 1 && !isolate) {
                isolate = true;
                learnt = true;
                LOG.warn("pool {}: batch {}: {} records refused with one {}; written again one record at a time to tell "
                        + "whose it is", poolId, batchId, sharing.get(error), error.getClass().getSimpleName());
                continue;
            }
            if (sharing.get(error) > 1) {
                continue; // isolated: a shared refusal is the rest of the transaction failing after its own
            }
            if (s.kind() == SentKind.DEAD_LETTER) {
                learnt |= noDeadLetter.add(s.jobId());
                LOG.error("pool {}: dead-letter copy of job {} refused ({}); the job fails without one", poolId, s.jobId(),
                        error.toString());
            } else if (failing.containsKey(s.jobId())) {
                learnt |= abandoned.add(s.jobId());
                LOG.error("pool {}: even the failed outcome of job {} was refused ({}); nothing is published for it", poolId,
                        s.jobId(), error.toString());
                abandonedJobs.increment();
            } else {
                failing.putIfAbsent(s.jobId(), f);
                LOG.warn("pool {}: job {} fails: {} ({})", poolId, s.jobId(), f.code(), f.message());
                learnt = true;
            }
        }
        return learnt;
    }

    /**
     * Past the retry limit: the jobs whose result writes to a reply topic failed on their own fail; when no write could be
     * blamed, every job of the batch whose result goes to a reply topic. @return whether any job failed now
     */
    private boolean failReplyTopicJobs(KafkaException e) {
        boolean any = false;
        for (var entry : replyTopics.entrySet()) {
            boolean suspect = suspects.isEmpty() || suspects.contains(entry.getKey());
            if (suspect && !entry.getValue().equals(TopicCatalogue.RESULTS) && !failing.containsKey(entry.getKey())) {
                failing.put(entry.getKey(), new WriteFailure(WriteFailure.RESULT_WRITE_FAILED, "the result could not be written to"
                        + " the reply topic '" + entry.getValue() + "' in " + attempts + " attempts (" + e + ")", true, e.getClass().getName()));
                any = true;
            }
        }
        return any;
    }
}
