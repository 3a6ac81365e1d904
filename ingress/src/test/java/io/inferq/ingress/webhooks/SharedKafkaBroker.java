package io.inferq.ingress.webhooks;

import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One real embedded KRaft broker per test JVM, started on first use and stopped at JVM exit:
 * starting a broker costs seconds, so test classes share it and use distinct topic names.
 */
public final class SharedKafkaBroker {
    private static EmbeddedKafkaBroker broker;

    private SharedKafkaBroker() {
    }

    public static synchronized String bootstrapServers() {
        if (broker == null) {
            try {
                Path dir = Files.createTempDirectory("inferq-test-kafka");
                broker = new EmbeddedKafkaBroker(dir, "127.0.0.1", 0, 0);
                broker.start(60_000);
                Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "test-kafka-stop"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return broker.bootstrapServers();
    }
}
