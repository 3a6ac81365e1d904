package io.inferq.server.kafka;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.dispatcher.runtime.contract.ContractHeaders;
import io.inferq.server.InferqServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** What an external producer/consumer of inferq's Kafka contract does, for the integration tests. */
final class KafkaContractClient {
    static final AvroSerde<JobRequest> REQUESTS = new AvroSerde<>(JobRequest.class);

    private KafkaContractClient() {
    }

    static KafkaProducer<String, byte[]> producer(InferqServer server) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, server.kafkaBootstrapServers());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }

    /** A consumer of the whole topic from the start, without a group. */
    static KafkaConsumer<String, byte[]> reader(InferqServer server, String isolation) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, server.kafkaBootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-reader-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "2000");
        return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    }

    /** Reads {@code topics} until {@code done} holds for what was read, then {@code settle} more (to catch duplicates). */
    static List<ConsumerRecord<String, byte[]>> readUntil(InferqServer server, List<String> topics, String isolation,
            Predicate<List<ConsumerRecord<String, byte[]>>> done, Duration timeout, Duration settle) {
        List<ConsumerRecord<String, byte[]>> all = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = reader(server, isolation)) {
            c.subscribe(topics);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!done.test(all)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timed out after " + timeout + " reading " + topics + "; read " + all.size() + " records");
                }
                c.poll(Duration.ofMillis(200)).forEach(all::add);
            }
            long settleUntil = System.nanoTime() + settle.toNanos();
            while (System.nanoTime() < settleUntil) {
                c.poll(Duration.ofMillis(200)).forEach(all::add);
            }
        }
        return all;
    }

    /** Creates a reply topic (inferq refuses requests naming a topic that does not exist). */
    static void createTopic(InferqServer server, String name) {
        Properties p = new Properties();
        p.put(org.apache.kafka.clients.admin.AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, server.kafkaBootstrapServers());
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(p)) {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(name, 2, (short) 1))).all().get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("cannot create topic " + name, e);
        }
    }

    static String header(ConsumerRecord<?, ?> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    static ProducerRecord<String, byte[]> json(String topic, String key, String body, String... headers) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, key, body.getBytes(StandardCharsets.UTF_8));
        r.headers().add(ContractHeaders.CONTENT_TYPE, ContractHeaders.JSON.getBytes(StandardCharsets.UTF_8));
        addHeaders(r, headers);
        return r;
    }

    static ProducerRecord<String, byte[]> avro(String topic, String key, JobRequest request, String... headers) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, key, REQUESTS.encode(request));
        addHeaders(r, headers);
        return r;
    }

    static JobRequest avroRequest(String model, String prompt, int maxTokens) {
        return JobRequest.newBuilder().setJobId("").setTenant("").setModel(model)
                .setMessages(List.of(new ChatMessage("user", prompt))).setMaxTokens(maxTokens).setSource("kafka").build();
    }

    static String chatJson(String model, String prompt, int maxTokens) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}],\"max_tokens\":" + maxTokens + "}";
    }

    private static void addHeaders(ProducerRecord<String, byte[]> r, String... headers) {
        for (int i = 0; i + 1 < headers.length; i += 2) {
            r.headers().add(headers[i], headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Replaces the pool list with deepseek-v2-lite pools only. */
    static void litePools(ObjectNode tree, double timeScale, int maxConcurrentSequences, int maxBatchTokens, Map<String, Integer> instancesByChip) {
        ArrayNode pools = tree.putArray("pools");
        instancesByChip.forEach((chip, instances) -> pools.addObject().put("id", chip + "-lite").put("chip", chip)
                .put("chips-per-instance", 1).put("instances", instances).put("model", "deepseek-v2-lite").put("backend", "simulated")
                .put("max-batch-tokens", maxBatchTokens).put("max-concurrent-sequences", maxConcurrentSequences).put("time-scale", timeScale));
    }
}
