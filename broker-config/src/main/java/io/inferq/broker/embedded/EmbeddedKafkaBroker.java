package io.inferq.broker.embedded;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kafka broker in KRaft mode (combined broker + controller, one node) running inside this JVM.
 *
 * <p>Its log directory lives under the given data directory; the cluster id is kept in
 * {@code cluster.id} beside it, so a restart on the same directory keeps every record and every
 * committed offset. Not a test double: clients talk to it over real TCP on loopback.
 *
 * <p>{@link #start()} blocks until the broker answers {@code describeCluster}; {@link #close()} shuts
 * it down cleanly and waits. Neither may run on an event loop. Not thread-safe: start and stop from
 * one thread.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);

    private final Path dataDir;
    private final String host;
    private final int port;
    private final int controllerPort;
    private KafkaRaftServer server;

    /**
     * @param dataDir        directory for the log and cluster id (created if missing)
     * @param host           listener address, 127.0.0.1 for loopback only
     * @param port           client port (0 picks a free one)
     * @param controllerPort KRaft controller port (0 picks a free one)
     */
    public EmbeddedKafkaBroker(Path dataDir, String host, int port, int controllerPort) {
        this.dataDir = dataDir;
        this.host = host;
        this.port = port == 0 ? FreePorts.pick(host) : port;
        this.controllerPort = controllerPort == 0 ? FreePorts.pick(host) : controllerPort;
    }

    /** @return {@code host:port} for {@code bootstrap.servers} */
    public String bootstrapServers() {
        return host + ":" + port;
    }

    public int port() {
        return port;
    }

    /**
     * Formats storage on first use, starts the broker and waits until it serves requests.
     *
     * @throws BrokerStartException with a message naming the cause (port in use, bad directory, timeout)
     */
    public synchronized void start(long timeoutMs) {
        if (server != null) {
            return;
        }
        requirePortFree(port, "kafka.port");
        requirePortFree(controllerPort, "kafka.controller-port");
        try {
            Path logDir = dataDir.resolve("kafka-logs");
            Files.createDirectories(logDir);
            Properties props = brokerProperties(logDir);
            String clusterId = clusterId();
            boolean restart = Files.exists(logDir.resolve("meta.properties"));
            if (!restart) {
                format(props, clusterId);
            }
            server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
            server.startup();
            awaitReady(timeoutMs);
            if (restart) {
                abortHangingTransactions();
            }
            LOG.info("embedded Kafka broker (KRaft) ready on {} with data in {}", bootstrapServers(), logDir);
        } catch (IOException e) {
            throw new BrokerStartException("cannot prepare Kafka data directory " + dataDir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (e instanceof BrokerStartException) {
                throw e;
            }
            throw new BrokerStartException("embedded Kafka broker failed to start: " + e.getMessage(), e);
        }
    }

    private Properties brokerProperties(Path logDir) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@" + host + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + host + ":" + port + ",CONTROLLER://" + host + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + host + ":" + port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", logDir.toAbsolutePath().toString());
        p.put("num.partitions", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        // a restart after kill -9: the controller (this same node) replays the dead incarnation's registration as live
        // and refuses the new one (DUPLICATE_BROKER_REGISTRATION) until that session expires, counted from the
        // controller's activation; with Kafka's 9 s default that wait was the largest part of a restart. Broker and
        // controller share this JVM and talk over loopback, so a heartbeat is only late when the whole process stalls:
        // a stall beyond the session fences the broker until its next heartbeat (clients retry), which is the price
        p.put("broker.heartbeat.interval.ms", String.valueOf(HEARTBEAT_INTERVAL_MS));
        p.put("broker.session.timeout.ms", String.valueOf(SESSION_TIMEOUT_MS));
        p.put("auto.create.topics.enable", "false");
        p.put("log.flush.interval.messages", String.valueOf(Long.MAX_VALUE));
        p.put("log.cleaner.dedupe.buffer.size", String.valueOf(8 * 1024 * 1024));
        return p;
    }

    private String clusterId() throws IOException {
        Path idFile = dataDir.resolve("cluster.id");
        if (Files.exists(idFile)) {
            return Files.readString(idFile, StandardCharsets.UTF_8).trim();
        }
        String id = org.apache.kafka.common.Uuid.randomUuid().toString();
        Files.writeString(idFile, id, StandardCharsets.UTF_8);
        return id;
    }

    private void format(Properties props, String clusterId) throws IOException {
        Path propsFile = dataDir.resolve("broker.properties");
        try (Writer w = Files.newBufferedWriter(propsFile, StandardCharsets.UTF_8)) {
            props.store(w, "written by inferq for kafka-storage format");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc;
        try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            rc = StorageTool.execute(new String[] {"format", "-t", clusterId, "-c", propsFile.toString()}, ps);
        }
        if (rc != 0) {
            throw new BrokerStartException("formatting Kafka storage failed (" + rc + "): "
                    + out.toString(StandardCharsets.UTF_8), null);
        }
    }

    private void awaitReady(long timeoutMs) {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        ap.put(AdminClientConfig.CLIENT_ID_CONFIG, "inferq-embedded-probe-" + UUID.randomUUID());
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        try (Admin admin = Admin.create(ap)) {
            while (true) {
                try {
                    admin.describeCluster().nodes().get(1, TimeUnit.SECONDS);
                    return;
                } catch (Exception e) {
                    if (e instanceof InterruptedException) {
                        Thread.currentThread().interrupt();
                        throw new BrokerStartException("interrupted waiting for the broker", e);
                    }
                    if (System.nanoTime() > deadline) {
                        throw new BrokerStartException("embedded Kafka broker not ready after " + timeoutMs + " ms", e);
                    }
                }
            }
        }
    }

    /**
     * After a restart on existing data: aborts transactions left open on a partition that the coordinator no longer
     * finishes ({@link HangingTransactions}), before any client reads. A failure here is logged, not fatal: the broker
     * serves as it would have without the check.
     */
    private void abortHangingTransactions() {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        ap.put(AdminClientConfig.CLIENT_ID_CONFIG, "inferq-embedded-txn-check-" + UUID.randomUUID());
        long t0 = System.nanoTime();
        try (Admin admin = Admin.create(ap)) {
            var aborted = new HangingTransactions(admin, new CommitMarkers(new InetSocketAddress(host, port()), 10_000))
                    .abortAll(HANGING_SETTLE_MS);
            if (!aborted.isEmpty()) {
                LOG.warn("ended {} hanging transaction(s) left by an unclean stop in {} ms", aborted.size(),
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BrokerStartException("interrupted while checking for hanging transactions", e);
        } catch (Exception e) {
            LOG.warn("hanging-transaction check failed ({}); read_committed readers may stall on a partition left open by"
                    + " an unclean stop", e.toString());
        }
    }

    /**
     * The broker's heartbeat to its own controller (Kafka's default: 2 s). The controller records a heartbeat's arrival
     * before queueing it, so a busy controller does not fence the broker; a queued heartbeat older than half this interval
     * is answered {@code REQUEST_TIMED_OUT} (logged as "controller event queue overloaded"), so shorter means more of those.
     */
    static final int HEARTBEAT_INTERVAL_MS = 1000;
    /** Broker session (Kafka's default: 9 s): how long a restart after kill -9 may wait for the dead incarnation's. */
    static final int SESSION_TIMEOUT_MS = 4000;

    /** How long the hanging-transaction check waits for transactions the coordinator is still finishing. */
    static final long HANGING_SETTLE_MS = 15_000;

    /** Stops the broker cleanly (flushes logs, writes the clean-shutdown marker) and waits. */
    @Override
    public synchronized void close() {
        if (server != null) {
            server.shutdown();
            server.awaitShutdown();
            server = null;
            LOG.info("embedded Kafka broker stopped");
        }
    }

    private void requirePortFree(int p, String setting) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(host, p));
        } catch (IOException e) {
            throw new BrokerStartException(setting + ": port " + p + " on " + host
                    + " is already in use; stop the other process or choose another port", e);
        }
    }

    /** The broker could not start; the message names the cause. */
    public static final class BrokerStartException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public BrokerStartException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
