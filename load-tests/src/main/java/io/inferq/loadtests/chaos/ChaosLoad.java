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

    /** How a job entered. */
    enum Entry { HTTP, KAFKA, BATCH_LINE }

    /**
     * An accepted job: an HTTP job (its id), a Kafka request (its correlation id) or a batch line
     * ({@code <batch id>/<custom_id>}).
     */
    record Accepted(String id, Entry entry, int phase, long atMs) {
        boolean http() {
            return entry == Entry.HTTP;
        }
    }

    final List<Accepted> accepted = new CopyOnWriteArrayList<>();
    final Map<Integer, AtomicInteger> refusedByPhase = new ConcurrentHashMap<>();
    final AtomicLong lastHttpAcceptMs = new AtomicLong();
    /** Batches created (answered with a batch object): their lines are in {@link #accepted}. */
    final List<String> batchIds = new CopyOnWriteArrayList<>();
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
    private final Thread batchThread;
    private final int batchLines;

    ChaosLoad(String base, String bootstrap, String replyTopic, String model, double httpRate, double kafkaRate,
            double batchRate, int batchLines, IntSupplier phase, Supplier<String> webhookUrl) {
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
        this.batchLines = batchLines;
        this.batchThread = pacer("chaos-batch-load", batchLines > 0 ? batchRate : 0, this::submitBatch);
    }

    void start() {
        httpThread.start();
        kafkaThread.start();
        batchThread.start();
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
                accepted.add(new Accepted(new JsonObject(r.body()).getString("id"), Entry.HTTP, ph, now));
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
                    accepted.add(new Accepted(id, Entry.KAFKA, ph, System.currentTimeMillis()));
                } else {
                    refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).incrementAndGet();
                }
            });
        } catch (RuntimeException e) {
            refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).incrementAndGet();
        }
    }

    /**
     * Uploads a JSONL file of {@code batchLines} chat requests ({@code POST /v1/files}, multipart) and creates a batch
     * from it ({@code POST /v1/batches}); the batch's lines count as accepted once the batch object comes back.
     */
    private void submitBatch() {
        int ph = phase.getAsInt();
        String tag = UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        StringBuilder jsonl = new StringBuilder();
        List<String> customIds = new java.util.ArrayList<>();
        for (int i = 0; i < batchLines; i++) {
            String customId = "chaos-" + tag + "-" + i;
            customIds.add(customId);
            jsonl.append(new JsonObject().put("custom_id", customId).put("method", "POST").put("url", "/v1/chat/completions")
                    .put("body", new JsonObject().put("model", model).put("max_tokens", 8).put("messages", new JsonArray()
                            .add(new JsonObject().put("role", "user").put("content", "chaos batch " + customId)))).encode()).append('\n');
        }
        String boundary = "chaos" + tag;
        String multipart = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chaos-" + tag + ".jsonl\"\r\n"
                + "Content-Type: application/jsonl\r\n\r\n" + jsonl + "\r\n--" + boundary + "--\r\n";
        try {
            HttpResponse<String> f = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/files")).timeout(Duration.ofSeconds(10))
                    .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                    .POST(HttpRequest.BodyPublishers.ofString(multipart)).build(), HttpResponse.BodyHandlers.ofString());
            if (f.statusCode() == 200) {
                String fileId = new JsonObject(f.body()).getString("id");
                HttpResponse<String> b = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/batches")).timeout(Duration.ofSeconds(10))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(new JsonObject()
                                .put("input_file_id", fileId).put("endpoint", "/v1/chat/completions").put("completion_window", "24h")
                                .encode())).build(), HttpResponse.BodyHandlers.ofString());
                if (b.statusCode() == 200) {
                    String batchId = new JsonObject(b.body()).getString("id");
                    long now = System.currentTimeMillis();
                    batchIds.add(batchId);
                    customIds.forEach(c -> accepted.add(new Accepted(batchId + "/" + c, Entry.BATCH_LINE, ph, now)));
                    return;
                }
            }
        } catch (IOException | RuntimeException e) {
            // refused, reset or timed out: not accepted
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        refusedByPhase.computeIfAbsent(ph, k -> new AtomicInteger()).addAndGet(batchLines);
    }

    /** Stops submitting; waits for the Kafka sends in flight to be acknowledged or to fail. */
    void stop() throws InterruptedException {
        running.set(false);
        httpThread.join(10_000);
        kafkaThread.join(10_000);
        batchThread.join(30_000);
        producer.flush();
    }

    @Override
    public void close() {
        running.set(false);
        producer.close(Duration.ofSeconds(10));
    }
}
