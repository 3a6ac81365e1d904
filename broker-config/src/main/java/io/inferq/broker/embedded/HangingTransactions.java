package io.inferq.broker.embedded;

import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds and aborts <i>hanging transactions</i> on a broker that has just restarted after an unclean stop: a partition
 * that holds an open transaction (records of a transactional producer without a commit or abort marker) whose
 * transaction coordinator is no longer working on it.
 *
 * <p><b>Why.</b> When the process dies between a transaction's {@code PrepareCommit} and its markers, the restarted
 * coordinator loads the transaction and sends the markers again. Seen on a loaded host (chaos run, kill -9): the
 * coordinator began sending while the broker's own listener was not accepting yet ("TransactionCoordinator ...
 * Connection to node 1 could not be established"), then recorded {@code CompleteCommit} although no marker reached any
 * of the transaction's partitions. Such a partition's last stable offset never moves again: every read_committed
 * reader (the dispatcher's job-event follower, the job view, reply-topic consumers) stops at it, a transactional offset
 * commit left open in {@code __consumer_offsets} makes the slot that owns the batch wait forever for its position
 * ({@code UNSTABLE_OFFSET_COMMIT}), and the pool's credits never come back: the restarted server accepts jobs and
 * completes none. Kafka does not resolve this by itself (KIP-664 gives operators {@code kafka-transactions.sh
 * find-hanging} and {@code abort}); this class does the same at start.
 *
 * <p><b>What counts as hanging.</b> A partition's open transaction whose producer id the coordinator does not know,
 * or whose transaction the coordinator has finished ({@code CompleteCommit}, {@code CompleteAbort}, {@code Empty}) or
 * does not list this partition in. A transaction the coordinator is still finishing ({@code Prepare*}) is waited for;
 * an {@code Ongoing} one that lists the partition is left alone (its producer's next {@code initTransactions}, or the
 * transaction timeout, aborts it through the coordinator).
 *
 * <p><b>Commit or abort.</b> A transaction the coordinator recorded as committed ({@code CompleteCommit}) is committed
 * on the partition ({@link CommitMarkers}): the rest of it, the consumed offsets included, is committed already, so
 * aborting this part would lose it for good. Every other hanging transaction is aborted.
 *
 * <p><b>Effect of the abort.</b> The hanging records become aborted: read_committed readers skip them. For a worker's
 * read-process-write transaction that includes the consumed offset, the batch is read and run again and its outcome is
 * written once more, in one transaction (terminal claims keep one outcome per job). Run it before any client of the
 * broker's own process starts. Blocking; not for an event loop.
 */
final class HangingTransactions {
    private static final Logger LOG = LoggerFactory.getLogger(HangingTransactions.class);
    private static final Set<TransactionState> FINISHING = EnumSet.of(TransactionState.PREPARE_COMMIT,
            TransactionState.PREPARE_ABORT, TransactionState.PREPARE_EPOCH_FENCE);
    private static final long CALL_TIMEOUT_MS = 10_000;
    private static final long RECHECK_MS = 250;

    /** An open transaction on one partition. */
    record Open(TopicPartition partition, ProducerState producer) {
    }

    private final Admin admin;
    private final CommitMarkers commits;

    /**
     * @param admin   an Admin client of the broker
     * @param commits writes commit markers to the broker (the Admin API writes only aborts)
     */
    HangingTransactions(Admin admin, CommitMarkers commits) {
        this.admin = admin;
        this.commits = commits;
    }

    /**
     * Aborts every hanging transaction; waits (up to {@code settleMs}) for transactions the coordinator is still
     * finishing, and judges them again when it is done.
     *
     * @return the open transactions ended (committed or aborted)
     */
    List<Open> abortAll(long settleMs) throws InterruptedException, ExecutionException, TimeoutException, java.io.IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settleMs);
        List<TopicPartition> partitions = partitions();
        List<Open> aborted = new ArrayList<>();
        while (true) {
            // the coordinator first, then the partitions: a transaction the coordinator had finished before a partition
            // still shows it open is hanging; read the other way round, markers written in between would look missing
            Map<Long, TransactionDescription> byProducer = coordinatorView();
            List<Open> open = open(partitions);
            if (open.isEmpty()) {
                return aborted;
            }
            boolean waiting = false;
            for (Open o : open) {
                TransactionDescription d = byProducer.get(o.producer().producerId());
                if (d != null && FINISHING.contains(d.state())) {
                    waiting = true; // the coordinator is writing the markers now: judge it again when it is done
                    continue;
                }
                if (d != null && d.state() == TransactionState.ONGOING && d.topicPartitions().contains(o.partition())) {
                    continue; // a live transaction as the coordinator sees it: it ends through the coordinator
                }
                boolean ended = endsByCommit(d) ? commit(o, d) : abort(o, d);
                if (ended) {
                    aborted.add(o);
                } else {
                    waiting = true; // its markers arrived meanwhile: look again
                }
            }
            if (!waiting || System.nanoTime() > deadline) {
                if (waiting) {
                    LOG.warn("transactions still being finished by the coordinator after {} ms; left to it", settleMs);
                }
                return aborted;
            }
            Thread.sleep(RECHECK_MS);
        }
    }

    /**
     * How a hanging transaction ends: committed when its coordinator recorded the commit ({@code CompleteCommit}), aborted
     * otherwise (producer unknown, {@code CompleteAbort}, {@code Empty}, or a transaction that does not list the partition).
     */
    static boolean endsByCommit(TransactionDescription coordinatorView) {
        return coordinatorView != null && coordinatorView.state() == TransactionState.COMPLETE_COMMIT;
    }

    /**
     * Commits a transaction the coordinator recorded as committed ({@code CompleteCommit}) on a partition its marker
     * never reached: its other partitions (and the consumed offsets it committed) are committed already, so aborting
     * this part would lose it for good (a worker's terminal event, whose batch is never read again).
     *
     * @return false when the partition had moved past that transaction already (its markers arrived meanwhile)
     */
    private boolean commit(Open o, TransactionDescription d) throws java.io.IOException {
        ProducerState p = o.producer();
        LOG.warn("committing a hanging transaction on {}: producer {} epoch {} open since offset {} (coordinator: {}); its"
                + " commit marker never reached this partition", o.partition(), p.producerId(), p.producerEpoch(),
                p.currentTransactionStartOffset().orElse(-1), d.state());
        org.apache.kafka.common.protocol.Errors e = commits.commit(o.partition(), p.producerId(), (short) p.producerEpoch(),
                p.coordinatorEpoch().orElse(-1));
        if (e == org.apache.kafka.common.protocol.Errors.NONE) {
            return true;
        }
        if (e == org.apache.kafka.common.protocol.Errors.INVALID_PRODUCER_EPOCH
                || e == org.apache.kafka.common.protocol.Errors.TRANSACTION_COORDINATOR_FENCED) {
            LOG.info("the transaction on {} ended meanwhile ({}); checking again", o.partition(), e);
            return false;
        }
        throw new java.io.IOException("commit marker for " + o.partition() + " refused: " + e);
    }

    /** @return false when the partition had moved past that transaction already (its markers arrived meanwhile) */
    private boolean abort(Open o, TransactionDescription d) throws InterruptedException, ExecutionException, TimeoutException {
        ProducerState p = o.producer();
        LOG.warn("aborting a hanging transaction on {}: producer {} epoch {} open since offset {} (coordinator: {}); its records"
                + " become aborted and read_committed readers move past them", o.partition(), p.producerId(), p.producerEpoch(),
                p.currentTransactionStartOffset().orElse(-1), d == null ? "producer unknown" : d.state() + " " + d.topicPartitions());
        try {
            admin.abortTransaction(new AbortTransactionSpec(o.partition(), p.producerId(), (short) p.producerEpoch(),
                    p.coordinatorEpoch().orElse(-1))).all().get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.InvalidProducerEpochException
                    || e.getCause() instanceof org.apache.kafka.common.errors.TransactionCoordinatorFencedException) {
                LOG.info("the transaction on {} ended meanwhile ({}); checking again", o.partition(), e.getCause().toString());
                return false;
            }
            throw e;
        }
    }

    private List<TopicPartition> partitions() throws InterruptedException, ExecutionException, TimeoutException {
        Set<String> topics = admin.listTopics(new ListTopicsOptions().listInternal(true)).names()
                .get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        List<TopicPartition> out = new ArrayList<>();
        if (topics.isEmpty()) {
            return out;
        }
        Map<String, TopicDescription> described = admin.describeTopics(topics).allTopicNames().get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        described.values().forEach(t -> t.partitions().forEach(p -> out.add(new TopicPartition(t.name(), p.partition()))));
        return out;
    }

    private List<Open> open(Collection<TopicPartition> partitions) throws InterruptedException, ExecutionException, TimeoutException {
        List<Open> out = new ArrayList<>();
        if (partitions.isEmpty()) {
            return out;
        }
        Map<TopicPartition, PartitionProducerState> states = admin.describeProducers(partitions).all()
                .get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        states.forEach((tp, s) -> s.activeProducers().stream().filter(p -> p.currentTransactionStartOffset().isPresent())
                .forEach(p -> out.add(new Open(tp, p))));
        return out;
    }

    /** @return producer id → the coordinator's view of its transaction, for every transactional id it knows */
    private Map<Long, TransactionDescription> coordinatorView() throws InterruptedException, ExecutionException, TimeoutException {
        Collection<TransactionListing> listed = admin.listTransactions().all().get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        Map<Long, TransactionDescription> out = new HashMap<>();
        if (listed.isEmpty()) {
            return out;
        }
        List<String> ids = listed.stream().map(TransactionListing::transactionalId).toList();
        admin.describeTransactions(ids).all().get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .values().forEach(d -> out.put(d.producerId(), d));
        return out;
    }
}
