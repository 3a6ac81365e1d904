package io.inferq.loadtests.replay;

import io.inferq.broker.avro.JobResult;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows {@code inferq.results} ({@code read_committed}, no consumer group: all partitions assigned, starting
 * at their end when constructed) and completes the outcomes of expected jobs. A result that arrives before its
 * job is expected (an instant backend can beat the submit's answer) is parked, bounded, until it is.
 *
 * <p>One poll thread of its own; {@link #expect} may be called from any thread.
 */
public final class ResultFollower implements Tracker {
    private static final int MAX_PARKED = 200_000;
    private final KafkaConsumer<String, byte[]> consumer;
    private final AvroSerde<JobResult> serde = new AvroSerde<>(JobResult.class);
    private final Map<String, JobOutcome> expected = new ConcurrentHashMap<>();
    private final Map<String, JobResult> parked = new ConcurrentHashMap<>();
    private final AtomicLong finished = new AtomicLong();
    private final AtomicLong seen = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    public ResultFollower(String bootstrap) {
        this(bootstrap, false);
    }

    /** @param fromBeginning also count results already on the topic ({@link #resultsSeen()}) */
    public ResultFollower(String bootstrap, boolean fromBeginning) {
        Properties p = KafkaClientSettings.of(bootstrap).consumer("inferq-load-results", null);
        consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> parts = consumer.partitionsFor(TopicCatalogue.RESULTS, Duration.ofSeconds(30)).stream()
                .map(pi -> new TopicPartition(pi.topic(), pi.partition())).toList();
        consumer.assign(parts);
        if (fromBeginning) {
            consumer.seekToBeginning(parts);
        } else {
            consumer.seekToEnd(parts);
        }
        parts.forEach(tp -> consumer.position(tp, Duration.ofSeconds(30))); // resolve now: only later results count
        thread = new Thread(this::loop, "load-results");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    JobResult res;
                    try {
                        res = serde.decode(r.value());
                    } catch (RuntimeException e) {
                        continue;
                    }
                    seen.incrementAndGet();
                    // a Kafka request's producer-chosen id is scoped to its tenant (job id job_t…): the result carries it as its
                    // correlation id, which is what the Kafka target expects
                    String key = res.getJobId().startsWith("job_t") && res.getCorrelationId() != null ? res.getCorrelationId() : res.getJobId();
                    JobOutcome o = expected.remove(key);
                    if (o != null) {
                        complete(o, res, System.nanoTime());
                    } else if (parked.size() < MAX_PARKED) {
                        parked.put(key, res);
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } finally {
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(2)));
        }
    }

    private void complete(JobOutcome o, JobResult r, long nanos) {
        o.submittedAtMs = r.getSubmittedAtMs();
        o.startedAtMs = r.getStartedAtMs() == null ? 0 : r.getStartedAtMs();
        o.firstTokenAtMs = r.getFirstTokenAtMs() == null ? 0 : r.getFirstTokenAtMs();
        o.finishedAtMs = r.getFinishedAtMs();
        o.pool = r.getPoolId();
        o.errorCode = r.getError() == null ? null : r.getError().getCode();
        o.errorMessage = r.getError() == null ? null : r.getError().getMessage();
        if (r.getUsage() != null) {
            o.cachedTokens = r.getUsage().getCachedTokens();
            o.serverPromptTokens = r.getUsage().getPromptTokens();
        }
        o.seenNanos = Math.max(nanos, o.sentNanos);
        o.status = r.getStatus().name().toLowerCase(Locale.ROOT);
        finished.incrementAndGet();
    }

    @Override
    public void expect(JobOutcome o) {
        expected.put(o.jobId, o);
        JobResult early = parked.remove(o.jobId);
        if (early != null && expected.remove(o.jobId) != null) {
            complete(o, early, System.nanoTime());
        }
    }

    @Override
    public long finished() {
        return finished.get();
    }

    /** Results seen on the topic since start, expected or not. */
    public long resultsSeen() {
        return seen.get();
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
