package io.inferq.server;

import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.embedded.EmbeddedKafkaBroker;
import io.inferq.ingress.view.HazelcastJobView;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.HazelcastLauncher;
import io.inferq.server.wiring.HazelcastTerminalClaims;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code inferq broker}: only the embedded KRaft broker (and, with {@code --hazelcast}, a Hazelcast member with inferq's
 * map settings) in a process of its own, on the configuration's data directory and ports, until SIGTERM. The role
 * processes then run against it as against an external cluster ({@code serve --roles … --kafka-bootstrap-servers
 * host:port [--hazelcast-members host:port]}). It is what the chaos command's split mode kills and restarts as "the
 * broker"; a restart on the same data directory keeps every record and committed offset.
 */
@Command(name = "broker", mixinStandardHelpOptions = true, version = "inferq 0.1.0",
        description = "Run only the embedded Kafka broker (KRaft), optionally with a Hazelcast member, for split-role processes.")
public final class BrokerCommand implements Callable<Integer> {
    /** {@code --config} (data-dir, kafka.port, kafka.controller-port, hazelcast.*), --data-dir, --kafka-port, --hazelcast-port. */
    @Mixin
    FlagOverrides.Common common = new FlagOverrides.Common();
    @Option(names = "--kafka-controller-port", description = "KRaft controller port (default 9093; kafka.controller-port)")
    Integer controllerPort;
    @Option(names = "--host", description = "listen address (default: http.host, 127.0.0.1)")
    String host;
    @Option(names = "--hazelcast", description = "also run a Hazelcast member (hazelcast.port, hazelcast.cluster-name)")
    boolean hazelcast;

    @Override
    public Integer call() {
        FlagOverrides flags = flags(System.getenv());
        long t0 = System.nanoTime();
        InferqConfig config;
        try {
            config = flags.load();
        } catch (ConfigException e) {
            return FlagOverrides.configError("inferq broker", e);
        }
        String bind = host != null ? host : "localhost".equals(config.http().host()) ? "127.0.0.1" : config.http().host();
        EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(config.dataDir().resolve("kafka"), bind, config.kafka().port(),
                config.kafka().controllerPort());
        HazelcastInstance member = null;
        try {
            broker.start(120_000);
            if (hazelcast) {
                member = startMember(config, bind);
            }
        } catch (RuntimeException e) {
            broker.close();
            System.err.println("inferq broker: could not start: " + e.getMessage());
            return 1;
        }
        HazelcastInstance m = member;
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (m != null) {
                m.shutdown();
            }
            broker.close();
            stopped.countDown();
        }, "inferq-broker-shutdown"));
        System.out.printf("inferq broker ready in %d ms: Kafka %s%s%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                broker.bootstrapServers(), m == null ? "" : ", Hazelcast " + bind + ":" + config.hazelcast().port());
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /** The flags given, as environment overrides on top of {@code env}. */
    FlagOverrides flags(Map<String, String> env) {
        return common.overrides(env).put("INFERQ_KAFKA_CONTROLLER_PORT", controllerPort);
    }

    /**
     * A Hazelcast member with the map settings inferq's roles expect of their cluster (terminal claims, job view,
     * idempotency keys: expiry and bounds), for processes that connect as clients ({@code hazelcast.embedded: false}).
     */
    public static HazelcastInstance startMember(InferqConfig config, String bindHost) {
        InferqConfig.Hazelcast h = config.hazelcast();
        return HazelcastLauncher.start(new InferqConfig.Hazelcast(true, h.port(), h.clusterName(), h.members()), bindHost,
                inferqMaps(config));
    }

    static List<MapConfig> inferqMaps(InferqConfig config) {
        return List.of(HazelcastTerminalClaims.mapConfig(config.retention().terminalClaims()), HazelcastJobView.jobsMapConfig(),
                HazelcastJobView.idempotencyMapConfig());
    }
}
