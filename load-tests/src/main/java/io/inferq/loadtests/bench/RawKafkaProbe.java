package io.inferq.loadtests.bench;

import io.inferq.broker.client.KafkaClientSettings;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The baseline of the overhead benchmark: one produce + consume hop on the same broker, with the producer
 * settings inferq's ingress uses ({@code acks=all}, idempotent, linger 2 ms, lz4) and a {@code read_committed}
 * consumer, records of a given size on a fresh topic with the request topic's partition count. Each record
 * carries its send time ({@code System.nanoTime()}) in its first 8 bytes; the rest is random (so lz4 cannot
 * shrink it below what a real request would be).
 */
final class RawKafkaProbe implements AutoCloseable {
    private final String topic = "inferq-load.raw." + UUID.randomUUID().toString().substring(0, 8);
    private final KafkaProducer<String, byte[]> producer;
    private final KafkaConsumer<String, byte[]> consumer;
    private final int recordBytes;
    private final byte[] filler;

    RawKafkaProbe(String bootstrap, int partitions, int recordBytes) throws Exception {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        KafkaClientSettings k = KafkaClientSettings.of(bootstrap);
        producer = new KafkaProducer<>(k.producer("raw-probe"), new StringSerializer(), new ByteArraySerializer());
        consumer = new KafkaConsumer<>(k.consumer("raw-probe", null), new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        consumer.assign(tps);
        consumer.seekToEnd(tps);
        tps.forEach(tp -> consumer.position(tp, Duration.ofSeconds(30)));
        this.recordBytes = Math.max(8, recordBytes);
        this.filler = new byte[this.recordBytes];
        new java.util.Random(7).nextBytes(filler);
    }

    /** Throughput: sends {@code n} records as fast as the producer takes them, consumes all; records/s. */
    double saturate(int n) {
        long t0 = System.nanoTime();
        Thread sender = new Thread(() -> {
            for (int i = 0; i < n; i++) {
                producer.send(record(i));
            }
            producer.flush();
        }, "raw-probe-send");
        sender.start();
        int got = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (got < n && System.nanoTime() < deadline) {
            got += consumer.poll(Duration.ofMillis(100)).count();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        try {
            sender.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (got < n) {
            throw new IllegalStateException("raw probe consumed " + got + " of " + n + " records in 120 s");
        }
        return n / s;
    }

    /** Latency at a fixed rate for {@code seconds}: per-record send → consumed latencies in seconds. */
    double[] latencies(double ratePerSecond, double seconds) {
        int n = Math.max(1, (int) (ratePerSecond * seconds));
        double[] lat = new double[n];
        Thread sender = new Thread(() -> {
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long due = t0 + (long) (i / ratePerSecond * 1e9);
                long now;
                while ((now = System.nanoTime()) < due) {
                    java.util.concurrent.locks.LockSupport.parkNanos(Math.min(due - now, 1_000_000));
                }
                producer.send(record(i));
            }
            producer.flush();
        }, "raw-probe-paced");
        sender.start();
        int got = 0;
        long deadline = System.nanoTime() + (long) ((seconds + 60) * 1e9);
        while (got < n && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                long now = System.nanoTime();
                ByteBuffer b = ByteBuffer.wrap(r.value());
                long sentAt = b.getLong();
                int idx = b.getInt();
                if (idx >= 0 && idx < n) {
                    lat[idx] = (now - sentAt) / 1e9;
                }
                got++;
            }
        }
        try {
            sender.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return lat;
    }

    private ProducerRecord<String, byte[]> record(int i) {
        byte[] v = filler.clone();
        ByteBuffer.wrap(v).putLong(System.nanoTime()).putInt(i);
        return new ProducerRecord<>(topic, "job_" + i, v);
    }

    int recordBytes() {
        return recordBytes;
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
        consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
