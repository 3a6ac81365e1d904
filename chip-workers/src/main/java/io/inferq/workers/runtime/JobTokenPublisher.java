package io.inferq.workers.runtime;

import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.workers.backend.TokenSink;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes a batch's streamed text on {@value TopicCatalogue#JOB_TOKENS}, keyed by job id, one JSON record per piece:
 * {@code {"job_id", "attempt", "seq", "text"}} ({@code seq} counts the job's pieces of this attempt from 0).
 *
 * <p>Fire and forget, outside the slot's transaction: the final text travels with the job's terminal event, which is
 * what the caller's stream ends with; a lost piece only delays text until then. Thread-safe and non-blocking once the
 * topic's metadata is known (read when the publisher is made, on the slot thread).
 */
final class JobTokenPublisher implements TokenSink {
    private static final Logger LOG = LoggerFactory.getLogger(JobTokenPublisher.class);
    private final Producer<String, byte[]> producer;
    private final Map<String, Integer> attempts;
    private final Map<String, AtomicInteger> seqs = new ConcurrentHashMap<>();

    JobTokenPublisher(Producer<String, byte[]> producer, Map<String, Integer> attempts) {
        this.producer = producer;
        this.attempts = Map.copyOf(attempts);
    }

    @Override
    public void tokens(String jobId, String text) {
        int seq = seqs.computeIfAbsent(jobId, k -> new AtomicInteger()).getAndIncrement();
        byte[] value = new JsonObject().put("job_id", jobId).put("attempt", attempts.getOrDefault(jobId, 0)).put("seq", seq)
                .put("text", text).encode().getBytes(StandardCharsets.UTF_8);
        try {
            producer.send(new ProducerRecord<>(TopicCatalogue.JOB_TOKENS, jobId, value), (md, ex) -> {
                if (ex != null) {
                    LOG.debug("token piece {} of job {} not published: {}", seq, jobId, ex.toString());
                }
            });
        } catch (RuntimeException e) {
            LOG.debug("token piece {} of job {} not published: {}", seq, jobId, e.toString());
        }
    }
}
