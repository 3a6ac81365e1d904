package io.inferq.examples.tickets;

import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Runs the ticket classifier against a Kafka cluster that an inferq server uses.
 *
 * <pre>
 * BOOTSTRAP_SERVERS=127.0.0.1:9092 [INFERQ_TENANT=acme INFERQ_API_KEY=sk-...] [INFERQ_MODEL=deepseek-v2-lite]
 * mvn -pl examples/ticket-classifier exec:java
 * </pre>
 */
public final class TicketClassifierApp {
    private TicketClassifierApp() {
    }

    public static void main(String[] args) throws InterruptedException {
        TicketClassifierTopology.Settings d = TicketClassifierTopology.Settings.defaults();
        TicketClassifierTopology.Settings s = new TicketClassifierTopology.Settings(d.tickets(), d.requests(), d.replies(), d.enriched(),
                env("INFERQ_MODEL", d.model()), System.getenv("INFERQ_TENANT"), System.getenv("INFERQ_API_KEY"));
        KafkaStreams streams = new KafkaStreams(TicketClassifierTopology.build(s), config(env("BOOTSTRAP_SERVERS", "127.0.0.1:9092")));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close();
            stopped.countDown();
        }, "ticket-classifier-stop"));
        streams.start();
        System.out.println("ticket classifier running: " + s.tickets() + " -> inferq -> " + s.enriched() + " (Ctrl-C stops)");
        stopped.await();
    }

    /** Streams settings: exactly-once processing, so each ticket is sent to inferq once per committed run. */
    public static Properties config(String bootstrapServers) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "inferq-ticket-classifier");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        return p;
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
