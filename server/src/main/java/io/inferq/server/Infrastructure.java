package io.inferq.server;

import static io.inferq.server.StartStop.await;
import static io.inferq.server.StartStop.quietly;

import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.view.HazelcastJobView;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.EngineBackPressureRelay;
import io.inferq.server.wiring.HazelcastLauncher;
import io.inferq.server.wiring.HazelcastTerminalClaims;
import io.inferq.server.wiring.PrometheusMetrics;
import io.inferq.workers.pool.PoolPlan;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every role of one process shares: the process id, the metrics registry, the broker (embedded or its
 * address) with its topics, the Admin client and its periodic health probe, Hazelcast, Vert.x and the producer,
 * and the relay of engines' back-pressure. Started step by step by {@link InferqServer} (the order matters there)
 * and stopped by {@link #close} after every role.
 */
final class Infrastructure {
    private static final Logger LOG = LoggerFactory.getLogger(InferqServer.class);

    private final InferqConfig config;
    private String processId;
    private PrometheusMeterRegistry registry;
    private EmbeddedKafkaBroker broker;
    /** Hazelcast starting beside the broker (see {@link #startHazelcast}); taken into {@link #hazelcast} once it has. */
    private CompletableFuture<HazelcastInstance> hazelcastStarting;
    private HazelcastInstance hazelcast;
    private KafkaClientSettings kafka;
    private Admin admin;
    private Vertx vertx;
    private KafkaProducer<String, byte[]> producer;
    /** The batch side's writes (batch lines, file chunks, batch-lane pool batches): its own connection to the broker. */
    private KafkaProducer<String, byte[]> bulkProducer;
    private volatile boolean brokerReachable;
    private long healthTimer = -1;
    private EngineBackPressureRelay enginePressure;

    Infrastructure(InferqConfig config) {
        this.config = config;
    }

    /** The process id and the metrics registry: the first step of a start. */
    void identify() {
        // with the embedded broker the data directory belongs to this one process (the broker locks it): a process id
        // kept there is unique and survives restarts, so a restarted process fences its previous incarnation's
        // transactions and takes its group partitions back at once (static membership) instead of waiting for a
        // dead session to expire
        processId = config.processId() != null ? config.processId()
                : config.kafka().embedded() ? persistedProcessId() : defaultProcessId();
        registry = PrometheusMetrics.create();
    }

    /**
     * Starts Hazelcast on its own thread: it and the broker are independent, and each spends part of its start
     * waiting (the broker for its controller and registration), which matters most on a restart after a crash.
     */
    void startHazelcast() {
        List<MapConfig> maps = new ArrayList<>();
        maps.add(HazelcastTerminalClaims.mapConfig(config.retention().terminalClaims()));
        maps.add(HazelcastJobView.jobsMapConfig());
        maps.add(HazelcastJobView.idempotencyMapConfig());
        String hazelcastHost = loopbackOr(config.http().host());
        hazelcastStarting = CompletableFuture.supplyAsync(
                () -> HazelcastLauncher.start(config.hazelcast(), hazelcastHost, maps),
                r -> {
                    Thread t = new Thread(r, "inferq-hazelcast-start");
                    t.setDaemon(true);
                    t.start();
                });
    }

    /** Starts the embedded broker (or takes the external one's address), the Admin client, and makes the topics. */
    void startKafka(List<PoolPlan> plans) {
        String bootstrap;
        if (config.kafka().embedded()) {
            broker = new EmbeddedKafkaBroker(config.dataDir().resolve("kafka"), config.http().host().equals("0.0.0.0")
                    ? "127.0.0.1" : loopbackOr(config.http().host()), config.kafka().port(), config.kafka().controllerPort());
            broker.start(60_000);
            bootstrap = broker.bootstrapServers();
        } else {
            bootstrap = config.kafka().bootstrapServers();
        }
        kafka = new KafkaClientSettings(bootstrap, config.kafka().client(), config.kafka().embedded() ? processId : null);
        Properties ap = new Properties();
        ap.putAll(config.kafka().client());
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        admin = Admin.create(ap);
        Map<String, Integer> streamsByPool = new java.util.LinkedHashMap<>();
        plans.forEach(p -> streamsByPool.put(p.spec().id(),
                WorkersWiring.slotsOf(p.spec().instances(), config.dispatcher().maxInFlightBatchesPerInstance())));
        var outcome = new TopicBootstrap(admin, (short) config.kafka().replicationFactor(), 30_000)
                .ensure(TopicCatalogue.topics(config.kafka().partitions(), streamsByPool));
        outcome.warnings().forEach(w -> LOG.warn("topic bootstrap: {}", w));
        LOG.info("Kafka at {}: {} topics created, {} already present", bootstrap, outcome.created().size(), outcome.existing().size());
        brokerReachable = true;
    }

    /** Waits for the Hazelcast start begun in {@link #startHazelcast}; rethrows its failure as it was thrown. */
    HazelcastInstance awaitHazelcast() {
        try {
            hazelcast = hazelcastStarting.join();
            return hazelcast;
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }

    /**
     * Vert.x and the two producers the roles share: one for interactive work and everything else, one for the batch
     * side's bulk writes ({@link #bulkProducer}). A broker handles one request per connection at a time, so with a
     * single producer an interactive job's record would queue behind a batch's file chunks and lines in flight.
     */
    void startVertxAndProducer() {
        vertx = Vertx.vertx();
        Properties pp = kafka.producer("inferq-" + processId);
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
        Properties bp = kafka.producer("inferq-" + processId + "-bulk");
        bp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        bulkProducer = new KafkaProducer<>(bp, new StringSerializer(), new ByteArraySerializer());
    }

    /** Probes the cluster every 2 s on a worker thread; {@code kafka} in the readiness follows the answer. */
    void startHealthProbe() {
        healthTimer = vertx.setPeriodic(2000, id -> vertx.executeBlocking(() -> {
            try {
                admin.describeCluster().nodes().get(2, TimeUnit.SECONDS);
                brokerReachable = true;
            } catch (Exception e) {
                brokerReachable = false;
            }
            return null;
        }, false));
    }

    /** The relay of engines' back-pressure between worker and dispatcher processes (started on first use). */
    EngineBackPressureRelay enginePressure() {
        if (enginePressure == null) {
            enginePressure = new EngineBackPressureRelay(hazelcast, processId);
        }
        return enginePressure;
    }

    void readiness(Map<String, Boolean> r) {
        r.put("kafka", brokerReachable);
        r.put("hazelcast", hazelcast != null && hazelcast.getLifecycleService().isRunning());
    }

    /** The first step of a shutdown: no more probes. */
    void stopHealthProbe() {
        if (vertx != null && healthTimer >= 0) {
            vertx.cancelTimer(healthTimer);
        }
    }

    /** The last steps of a shutdown, after every role: flush the producer, then Vert.x, Hazelcast and the broker. */
    void close() {
        if (bulkProducer != null) {
            KafkaProducer<String, byte[]> p = bulkProducer;
            quietly(() -> p.close(java.time.Duration.ofSeconds(10)));
            bulkProducer = null;
        }
        if (producer != null) {
            KafkaProducer<String, byte[]> p = producer;
            quietly(() -> p.close(java.time.Duration.ofSeconds(10)));
            producer = null;
        }
        if (admin != null) {
            Admin a = admin;
            quietly(() -> a.close(java.time.Duration.ofSeconds(5)));
            admin = null;
        }
        if (vertx != null) {
            Vertx v = vertx;
            quietly(() -> await(v.close(), "vert.x stop"));
            vertx = null;
        }
        if (hazelcast == null && hazelcastStarting != null) {
            quietly(this::awaitHazelcast); // a start that failed before taking it: stop it all the same
        }
        hazelcastStarting = null;
        if (enginePressure != null) {
            enginePressure.close();
            enginePressure = null;
        }
        if (hazelcast != null) {
            HazelcastInstance h = hazelcast;
            quietly(() -> h.shutdown());
            hazelcast = null;
        }
        if (broker != null) {
            quietly(broker::close);
            broker = null;
        }
    }

    String processId() {
        return processId;
    }

    PrometheusMeterRegistry registry() {
        return registry;
    }

    HazelcastInstance hazelcast() {
        return hazelcast;
    }

    KafkaClientSettings kafka() {
        return kafka;
    }

    Admin admin() {
        return admin;
    }

    Vertx vertx() {
        return vertx;
    }

    KafkaProducer<String, byte[]> producer() {
        return producer;
    }

    /** The producer of the batch side: batch lines and state, file chunks, the dispatcher's batch-lane batches. */
    KafkaProducer<String, byte[]> bulkProducer() {
        return bulkProducer;
    }

    /** A process id made once and kept in {@code <data-dir>/process-id}. */
    private String persistedProcessId() {
        java.nio.file.Path file = config.dataDir().resolve("process-id");
        try {
            if (java.nio.file.Files.exists(file)) {
                String id = java.nio.file.Files.readString(file).trim();
                if (!id.isEmpty()) {
                    return id;
                }
            }
            byte[] tag = new byte[4];
            new SecureRandom().nextBytes(tag);
            String id = defaultProcessId().replaceAll("-\\d+$", "") + "-" + java.util.HexFormat.of().formatHex(tag);
            java.nio.file.Files.createDirectories(config.dataDir());
            java.nio.file.Files.writeString(file, id);
            return id;
        } catch (java.io.IOException e) {
            throw new ConfigException("data-dir: cannot read or write " + file + ": " + e.getMessage(), e);
        }
    }

    private static String defaultProcessId() {
        try {
            return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9-]", "-") + "-" + ProcessHandle.current().pid();
        } catch (java.net.UnknownHostException e) {
            return "inferq-" + ProcessHandle.current().pid();
        }
    }

    static String loopbackOr(String host) {
        return "localhost".equals(host) ? "127.0.0.1" : host;
    }
}
