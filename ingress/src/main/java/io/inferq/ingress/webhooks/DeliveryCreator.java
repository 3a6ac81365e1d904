package io.inferq.ingress.webhooks;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.CommittingBatchConsumer;
import io.inferq.broker.client.ConsumerThread;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates webhook deliveries from {@code inferq.job-events}, at least once per event whatever crashes: a consumer in
 * its own group reads the events, writes the {@code PENDING} record of every delivery a poll's events call for, waits
 * until Kafka has acknowledged all of them ({@code acks=all}) and only then commits the poll's offsets. A write that
 * fails rewinds the poll (seek back) and tries again with backoff (100 ms doubling to 5 s), so no event's delivery is
 * skipped; a crash before the commit reads the events again. A repeated creation is harmless: the delivery's id is a
 * function of job id and event type ({@link WebhookEventType#deliveryId}) and readers keep the highest version of a
 * delivery, so a replay yields at most another attempt with the same {@code webhook-id}.
 *
 * <p>Each partition of the events topic is read by one process of the group, so a delivery is created by exactly one
 * process in the normal case, independent of which process's write changed the job view.
 *
 * <p><b>Threading.</b> A {@link CommittingBatchConsumer} owns the consumer on its own thread and blocks there on the
 * writes (never an event loop). The callbacks ({@code known}, {@code created}) are called on that thread and must hand off at once.
 */
final class DeliveryCreator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DeliveryCreator.class);
    private static final long WRITE_TIMEOUT_MS = 150_000; // above the producer's delivery.timeout.ms (120 s)

    private final Function<JobEvent, Optional<Delivery>> deliveryFor;
    private final Predicate<String> known;
    private final Function<Delivery, CompletableFuture<RecordMetadata>> write;
    private final BiConsumer<Delivery, RecordMetadata> created;
    private final AvroSerde<JobEvent> serde = new AvroSerde<>(JobEvent.class);
    private final CommittingBatchConsumer consumer;

    /**
     * @param kafka          client settings
     * @param topic          the job-events topic
     * @param groupId        the creators' consumer group
     * @param readerCaughtUp true once the delivery topic has been read (so {@code known} is meaningful): reading waits
     * @param deliveryFor    the delivery a job snapshot calls for now, if any
     * @param known          whether a delivery with this id is already known (then nothing is written)
     * @param write          writes a delivery's record; completes when Kafka acknowledged it
     * @param created        told of each written delivery with where it landed
     */
    DeliveryCreator(KafkaClientSettings kafka, String topic, String groupId, BooleanSupplier readerCaughtUp,
            Function<JobEvent, Optional<Delivery>> deliveryFor, Predicate<String> known,
            Function<Delivery, CompletableFuture<RecordMetadata>> write, BiConsumer<Delivery, RecordMetadata> created) {
        this.deliveryFor = deliveryFor;
        this.known = known;
        this.write = write;
        this.created = created;
        this.consumer = new CommittingBatchConsumer("webhook-creator",
                ConsumerThread.kafkaConsumers(kafka.consumer("webhook-creator", groupId)), topic, readerCaughtUp, this::createAll);
    }

    void start() {
        consumer.start();
    }

    /** @return true once this process has had its first assignment in the creators' group */
    boolean isReady() {
        return consumer.isReady();
    }

    /** Writes the deliveries these events call for. @return true when every write was acknowledged */
    private boolean createAll(ConsumerRecords<String, byte[]> records) {
        Map<String, Delivery> wanted = new java.util.LinkedHashMap<>();
        Set<String> jobsCompleted = new HashSet<>();
        for (ConsumerRecord<String, byte[]> r : records) {
            if (r.value() == null) {
                continue;
            }
            JobEvent e;
            try {
                e = serde.decode(r.value());
            } catch (AvroSerde.AvroDecodeException ex) {
                LOG.error("undecodable job event at {}-{}@{} creates no webhook: {}", r.topic(), r.partition(), r.offset(), ex.getMessage());
                continue;
            }
            Optional<Delivery> d = deliveryFor.apply(e);
            if (d.isEmpty()) {
                continue;
            }
            String jobId = d.get().jobId();
            boolean completed = WebhookEventType.COMPLETED.wireName.equals(d.get().eventType());
            if (!completed && (jobsCompleted.contains(jobId) || known.test(WebhookEventType.COMPLETED.deliveryId(jobId)))) {
                continue; // a progress event of a job already finished (a duplicate run): no notice after the result
            }
            if (completed) {
                jobsCompleted.add(jobId);
            }
            if (!known.test(d.get().id())) {
                wanted.putIfAbsent(d.get().id(), d.get());
            }
        }
        List<CompletableFuture<RecordMetadata>> acks = new ArrayList<>(wanted.size());
        List<Delivery> order = new ArrayList<>(wanted.values());
        for (Delivery d : order) {
            CompletableFuture<RecordMetadata> ack;
            try {
                ack = write.apply(d);
            } catch (RuntimeException ex) {
                ack = CompletableFuture.failedFuture(ex);
            }
            acks.add(ack);
        }
        boolean all = true;
        long giveUpAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WRITE_TIMEOUT_MS);
        for (int i = 0; i < order.size(); i++) {
            Delivery d = order.get(i);
            try {
                created.accept(d, await(acks.get(i), giveUpAt));
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | TimeoutException ex) {
                all = false;
                Throwable cause = ex instanceof ExecutionException ? ex.getCause() : ex;
                LOG.warn("webhook {} for job {} not yet written ({}); its job events are read again", d.id(), d.jobId(),
                        String.valueOf(cause));
            }
        }
        return all;
    }

    /** Waits for an acknowledgement until {@code giveUpAt} (nanoTime), or until closed (then: not written). */
    private <T> T await(CompletableFuture<T> ack, long giveUpAt) throws InterruptedException, ExecutionException, TimeoutException {
        while (true) {
            try {
                return ack.get(200, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                if (consumer.isClosing() || System.nanoTime() > giveUpAt) {
                    throw e;
                }
            }
        }
    }

    /** Stops reading; what was not committed is read again by the partitions' next owner. Blocking. */
    @Override
    public void close() {
        consumer.close();
    }
}
