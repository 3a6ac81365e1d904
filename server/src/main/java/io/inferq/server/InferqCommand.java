package io.inferq.server;

import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The {@code inferq} command line: {@code serve} runs a process, {@code topics} lists a cluster's topics. */
@Command(name = "inferq", mixinStandardHelpOptions = true, version = "inferq 0.1.0",
        description = "Event-driven job queue for LLM inference on a heterogeneous accelerator fleet.",
        subcommands = {InferqCommand.Serve.class, InferqCommand.Topics.class, BrokerCommand.class, CommandLine.HelpCommand.class})
public final class InferqCommand implements Runnable {

    public static void main(String[] args) {
        JvmDefaults.install();
        int rc = new CommandLine(new InferqCommand()).execute(args);
        if (rc != 0) {
            System.exit(rc);
        }
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    /** Runs the configured roles until SIGTERM/SIGINT, then shuts down gracefully. */
    @Command(name = "serve", mixinStandardHelpOptions = true, version = "inferq 0.1.0",
            description = "Run inferq (by default every role, with an embedded Kafka broker and Hazelcast member).")
    static final class Serve implements Callable<Integer> {
        /** {@code --config}, {@code --data-dir}, {@code --kafka-port}, {@code --hazelcast-port}. */
        @Mixin
        FlagOverrides.Common common = new FlagOverrides.Common();
        @Option(names = "--roles", split = ",", description = "roles to run: ingress, dispatcher, workers")
        String[] roles;
        @Option(names = "--http-port", description = "HTTP port")
        Integer httpPort;
        @Option(names = "--http-host", description = "HTTP listen address (default 127.0.0.1)")
        String httpHost;
        @Option(names = "--kafka-bootstrap-servers", description = "use this external Kafka cluster instead of the embedded broker")
        String bootstrapServers;
        @Option(names = "--hazelcast-members", split = ",", description = "connect to this external Hazelcast cluster as a client")
        String[] hazelcastMembers;
        @Option(names = "--process-id", description = "stable id of this process (transactional ids)")
        String processId;

        @Override
        public Integer call() {
            FlagOverrides flags = flags(System.getenv());
            long t0 = System.nanoTime();
            InferqConfig config;
            InferqServer server;
            try {
                config = flags.load();
                server = InferqServer.start(config);
            } catch (ConfigException e) {
                return FlagOverrides.configError("inferq", e);
            } catch (RuntimeException e) {
                System.err.println("inferq: could not start: " + e.getMessage());
                return 1;
            }
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.close();
                stopped.countDown();
            }, "inferq-shutdown"));
            while (!server.isReady() && stopped.getCount() > 0) {
                sleep(100);
            }
            System.out.printf("inferq ready in %d ms: http://%s:%d (Kafka %s)%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), config.http().host(), server.httpPort(),
                    server.kafkaBootstrapServers());
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 0;
        }

        /** The flags given, as environment overrides on top of {@code env}. */
        FlagOverrides flags(Map<String, String> env) {
            FlagOverrides flags = common.overrides(env).putList("INFERQ_ROLES", roles).put("INFERQ_HTTP_PORT", httpPort)
                    .put("INFERQ_HTTP_HOST", httpHost);
            if (bootstrapServers != null) {
                flags.put("INFERQ_KAFKA_EMBEDDED", "false").put("INFERQ_KAFKA_BOOTSTRAP_SERVERS", bootstrapServers);
            }
            if (hazelcastMembers != null) {
                flags.put("INFERQ_HAZELCAST_EMBEDDED", "false").putList("INFERQ_HAZELCAST_MEMBERS", hazelcastMembers);
            }
            flags.put("INFERQ_PROCESS_ID", processId);
            return flags;
        }

        private static void sleep(long ms) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Lists the topics of a Kafka cluster with a plain Kafka admin client. */
    @Command(name = "topics", mixinStandardHelpOptions = true, version = "inferq 0.1.0",
            description = "List the topics of a Kafka cluster (e.g. the embedded broker) with a real Kafka client.")
    static final class Topics implements Callable<Integer> {
        @Option(names = "--bootstrap-servers", description = "Kafka cluster to list (default: the one the configuration "
                + "names: kafka.bootstrap-servers, or the embedded broker at 127.0.0.1:<kafka.port>, 127.0.0.1:9092 by default)")
        String bootstrapServers;
        @Option(names = "--config", description = "YAML configuration file whose Kafka settings to use (also INFERQ_CONFIG)")
        Path configFile;

        @Override
        public Integer call() throws Exception {
            FlagOverrides flags = new FlagOverrides(configFile);
            Path file = flags.file();
            InferqConfig config;
            try {
                config = flags.load();
            } catch (ConfigException e) {
                return FlagOverrides.configError("inferq", e);
            }
            Properties p = new Properties();
            p.putAll(config.kafka().client());
            String bootstrap = bootstrapServers != null ? bootstrapServers : bootstrapOf(config);
            System.err.println("inferq topics: Kafka at " + bootstrap + (bootstrapServers != null ? " (--bootstrap-servers)"
                    : config.kafka().embedded() ? " (the embedded broker's kafka.port" + (file == null ? ", default configuration" : " in " + file) + ")"
                    : " (kafka.bootstrap-servers" + (file == null ? "" : " in " + file) + ")"));
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            try (Admin admin = Admin.create(p)) {
                var names = admin.listTopics().names().get(15, TimeUnit.SECONDS);
                var described = admin.describeTopics(names).allTopicNames().get(15, TimeUnit.SECONDS);
                new java.util.TreeSet<>(names).forEach(n -> System.out.printf("%-40s partitions=%d%n", n,
                        described.get(n).partitions().size()));
            }
            return 0;
        }

        static String bootstrapOf(InferqConfig config) {
            return config.kafka().embedded() ? "127.0.0.1:" + config.kafka().port() : config.kafka().bootstrapServers();
        }
    }
}
