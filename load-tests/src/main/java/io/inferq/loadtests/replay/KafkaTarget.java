package io.inferq.loadtests.replay;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Produces Avro {@link JobRequest}s to {@code inferq.requests} (key = job id, header
 * {@code inferq-correlation-id} = job id); "accepted" means acknowledged by the broker ({@code acks=all}).
 * Thread-safe (one shared producer).
 */
public final class KafkaTarget implements Target {
    private final KafkaProducer<String, byte[]> producer;
    private final AvroSerde<JobRequest> serde = new AvroSerde<>(JobRequest.class);
    private final String tenant;

    public KafkaTarget(String bootstrap, String tenant) {
        Properties p = KafkaClientSettings.of(bootstrap).producer("inferq-load-" + UUID.randomUUID());
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        this.tenant = tenant;
    }

    @Override
    public CompletableFuture<Answer> submit(String model, String prompt, int maxTokens) {
        String id = "job_load" + UUID.randomUUID().toString().replace("-", "");
        JobRequest r = JobRequest.newBuilder().setJobId(id).setTenant(tenant).setModel(model)
                .setMessages(List.of(new ChatMessage("user", prompt))).setMaxTokens(maxTokens)
                .setSubmittedAtMs(System.currentTimeMillis()).setCorrelationId(id).setSource("kafka").build();
        ProducerRecord<String, byte[]> rec = new ProducerRecord<>(TopicCatalogue.REQUESTS, id, serde.encode(r));
        rec.headers().add("inferq-correlation-id", id.getBytes(StandardCharsets.UTF_8));
        CompletableFuture<Answer> f = new CompletableFuture<>();
        try {
            producer.send(rec, (md, ex) -> f.complete(ex == null ? new Answer(202, id, null)
                    : new Answer(0, null, "kafka:" + ex.getClass().getSimpleName(), ex.getMessage())));
        } catch (RuntimeException e) {
            f.complete(new Answer(0, null, "kafka:" + e.getClass().getSimpleName(), e.getMessage()));
        }
        return f;
    }

    @Override
    public String kind() {
        return "kafka";
    }

    @Override
    public void close() {
        producer.close(java.time.Duration.ofSeconds(10));
    }
}
