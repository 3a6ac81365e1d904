package io.inferq.ingress.api;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Calls {@link Producer#send} for the HTTP handlers, never on an event loop: {@code send} blocks up to
 * {@code max.block.ms} when the producer has no metadata for the topic yet (a Kafka job's reply topic that a cancel
 * writes to; any topic unused for {@code metadata.max.idle.ms}) or when its buffer is full. A small pool of sender
 * threads takes those waits; the outcome comes back on the caller's {@link Context}.
 *
 * <p>Bounded: at most {@value #MAX_QUEUED} sends wait for a sender thread; beyond that a send fails at once with
 * {@link RejectedExecutionException} (the handler answers 503, nothing written). One blocked send holds one of the
 * {@value #THREADS} threads; sends behind it use the others. The threads end when idle, so nothing needs closing.
 *
 * <p>Thread-safe.
 */
final class RecordSender {
    static final int THREADS = 2;
    static final int MAX_QUEUED = 10_000;
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final Producer<String, byte[]> producer;
    private final ThreadPoolExecutor senders;
    private final Counter refused;

    RecordSender(Producer<String, byte[]> producer, MeterRegistry registry) {
        this.producer = producer;
        int pool = POOLS.incrementAndGet();
        AtomicInteger n = new AtomicInteger();
        this.senders = new ThreadPoolExecutor(THREADS, THREADS, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(MAX_QUEUED), r -> {
            Thread t = new Thread(r, "ingress-kafka-send-" + pool + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        senders.allowCoreThreadTimeOut(true);
        Gauge.builder("inferq.ingress.kafka.sends.waiting", senders, e -> e.getQueue().size())
                .description("HTTP handlers' Kafka sends waiting for a sender thread").register(registry);
        this.refused = Counter.builder("inferq.ingress.kafka.sends.refused")
                .description("sends refused because " + MAX_QUEUED + " were already waiting").register(registry);
    }

    /**
     * Sends {@code record} from a sender thread.
     *
     * @param context where the returned future completes (the request's context)
     * @return the broker's acknowledgement, or the failure (including a send the producer refused at once)
     */
    Future<RecordMetadata> send(ProducerRecord<String, byte[]> record, Context context) {
        Promise<RecordMetadata> done = Promise.promise();
        try {
            senders.execute(() -> {
                try {
                    producer.send(record, (md, ex) -> context.runOnContext(v -> {
                        if (ex != null) {
                            done.tryFail(ex);
                        } else {
                            done.tryComplete(md);
                        }
                    }));
                } catch (RuntimeException e) {
                    context.runOnContext(v -> done.tryFail(e));
                }
            });
        } catch (RejectedExecutionException e) {
            refused.increment();
            done.tryFail(e);
        }
        return done.future();
    }
}
