package io.inferq.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.embedded.FreePorts;
import io.inferq.server.config.ConfigLoader;
import io.inferq.server.config.InferqConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * One real inferq process per test JVM — embedded KRaft broker, embedded Hazelcast member, every role —
 * shared by the integration tests (each start costs seconds). Simulated pools run 200× faster than real
 * time so a job finishes in milliseconds. Tests that need another configuration start their own with
 * {@link #start(Consumer)} and close it.
 */
public final class TestInferq {
    private static InferqServer shared;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private TestInferq() {
    }

    public static synchronized InferqServer shared() {
        if (shared == null) {
            shared = start(tree -> { });
            Runtime.getRuntime().addShutdownHook(new Thread(shared::close, "test-inferq-stop"));
        }
        return shared;
    }

    /** Starts a fresh process on a new data directory; {@code customize} edits the config tree. */
    public static InferqServer start(Consumer<ObjectNode> customize) {
        return startOn(tempDir(), customize);
    }

    /** Starts a process on {@code dataDir} (reuse it to test restarts). */
    public static InferqServer startOn(Path dataDir, Consumer<ObjectNode> customize) {
        ObjectNode tree = ConfigLoader.defaults();
        tree.put("data-dir", dataDir.toString());
        ((ObjectNode) tree.get("http")).put("port", 0);
        ObjectNode kafka = (ObjectNode) tree.get("kafka");
        kafka.put("port", 0).put("controller-port", 0).put("partitions", 2);
        ObjectNode hz = (ObjectNode) tree.get("hazelcast");
        hz.put("port", freePort()).put("cluster-name", "inferq-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        tree.withArray("pools").forEach(p -> ((ObjectNode) p).put("time-scale", 200.0));
        customize.accept(tree);
        InferqConfig config = ConfigLoader.bind(tree);
        return InferqServer.start(config).awaitReady(Duration.ofSeconds(60));
    }

    public static Path tempDir() {
        try {
            return Files.createTempDirectory("inferq-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** @return a free port, never one handed out before in this JVM ({@link FreePorts}) */
    public static int freePort() {
        return FreePorts.pick();
    }

    /** A plain HTTP call: {@code method} {@code path} with an optional JSON body and extra header pairs. */
    public static HttpResponse<String> http(InferqServer server, String method, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + path))
                .timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        try {
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Polls until {@code condition} holds or the timeout passes (integration tests wait on real Kafka). */
    public static void await(Duration timeout, java.util.function.BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            pause(25);
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A new single-member Hazelcast cluster on loopback (TCP-IP join to 127.0.0.1 only, no multicast or discovery,
     * a unique cluster name so concurrent builds never join each other); the caller shuts it down.
     */
    public static com.hazelcast.core.HazelcastInstance loopbackMember(String namePrefix, com.hazelcast.config.MapConfig... maps) {
        com.hazelcast.config.Config c = new com.hazelcast.config.Config();
        c.setClusterName(namePrefix + "-" + java.util.UUID.randomUUID());
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.partition.count", "31");
        c.setProperty("hazelcast.wait.seconds.before.join", "0");
        c.getNetworkConfig().setPort(5701).setPortAutoIncrement(true);
        c.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        com.hazelcast.config.JoinConfig join = c.getNetworkConfig().getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(true).addMember("127.0.0.1");
        for (com.hazelcast.config.MapConfig m : maps) {
            c.addMapConfig(m);
        }
        return com.hazelcast.core.Hazelcast.newHazelcastInstance(c);
    }
}
