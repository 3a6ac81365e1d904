package io.inferq.loadtests.chaos;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Steady load from two entry points while faults are injected: HTTP jobs with a webhook to the run's receiver
 * ({@code 202} = accepted) and Kafka requests with a reply topic (broker acknowledgement with {@code acks=all} =
 * accepted). Each accepted job is recorded with the phase (fault) that was current when it was accepted.
 */
final class ChaosLoad implements AutoCloseable {

    /** An accepted job. */
    record Accepted(String id, boolean http, int phase, long atMs) {
    }

    final List<Accepted> accepted = new CopyOnWriteArrayList<>();
    final Map<Integer, AtomicInteger> refusedByPhase = new ConcurrentHashMap<>();
    final AtomicLong lastHttpAcceptMs = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final KafkaProducer<String, byte[]> producer;
    private final AvroSerde<JobRequest> serde = new AvroSerde<>(JobRequest.class);
    private final String base;
    private final String replyTopic;
    private final String model;
    private final IntSupplier phase;
    private final Supplier<String> webhookUrl;
    private final Thread httpThread;
    private final Thread kafkaThread;

    ChaosLoad(String base, String bootstrap, String replyTopic, String model, double httpRate, double kafkaRate,
            IntSupplier phase, Supplier<String> webhookUrl) {
        this.base = base;
        this.replyTopic = replyTopic;
        this.model = model;
        this.phase = phase;
        this.webhookUrl = webhookUrl;
        Properties p = KafkaClientSettings.of(bootstrap).producer("inferq-chaos-load");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        this.httpThread = pacer("chaos-http-load", httpRate, this::submitHttp);
        this.kafkaThread = pacer("chaos-kafka-load", kafkaRate, this::submitKafka);
    }

    void start() {
        httpThread.start();
        kafkaThread.start();
    }

    private Thread pacer(String name, double rate, Runnable submit) {
        Thread t = new Thread(() -> {
            if (rate <= 0) {
                return;
            }
            long intervalNs = (long) (1e9 / rate);
            long next = System.nanoTime();
            while (running.get()) {
                submit.run();
                next += intervalNs;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    try {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    } catch (InterruptedException e) {
                        return;
                    }
                } else {
                    next = System.nanoTime(); // behind after an outage: do not burst to catch up
                }
            }
        }, name);
        t.setDaemon(true);
        return t;
    }

    private void submitHttp() {
        int ph = phase.getAsInt();
        String body = new JsonObject().put("model", model)
                .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "chaos " + UUID.randomUUID())))
                .put("max_tokens", 8).put("webhook", webhookUrl.get()).encode();
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/jobs")).timeout(Duration.ofSeconds(5))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 202) {
                long now = System.currentTimeMillis();
                accepted.add(new Accepted(new JsonObject(r.body()).getString("id"), true, ph, now));
                lastHttpAcceptMs.set(now);
                return;
            }
        } catch (IOException | RuntimeException e) {
            // refused, reset or timed out: not accepted
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).incrementAndGet();
    }

    private void submitKafka() {
        int ph = phase.getAsInt();
        String id = "job_chaos" + UUID.randomUUID().toString().replace("-", "");
        JobRequest r = JobRequest.newBuilder().setJobId(id).setTenant("default").setModel(model)
                .setMessages(List.of(new ChatMessage("user", "chaos " + id))).setMaxTokens(8)
                .setSubmittedAtMs(System.currentTimeMillis()).setCorrelationId(id).setSource("kafka").build();
        ProducerRecord<String, byte[]> rec = new ProducerRecord<>(TopicCatalogue.REQUESTS, id, serde.encode(r));
        rec.headers().add("inferq-correlation-id", id.getBytes(StandardCharsets.UTF_8));
        rec.headers().add("inferq-reply-topic", replyTopic.getBytes(StandardCharsets.UTF_8));
        try {
            producer.send(rec, (md, ex) -> {
                if (ex == null) {
                    accepted.add(new Accepted(id, false, ph, System.currentTimeMillis()));
                } else {
                    refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).incrementAndGet();
                }
            });
        } catch (RuntimeException e) {
            refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).incrementAndGet();
        }
    }

    /** Stops submitting; waits for the Kafka sends in flight to be acknowledged or to fail. */
    void stop() throws InterruptedException {
        running.set(false);
        httpThread.join(10_000);
        kafkaThread.join(10_000);
        producer.flush();
    }

    @Override
    public void close() {
        running.set(false);
        producer.close(Duration.ofSeconds(10));
    }
}
