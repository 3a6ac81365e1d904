package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.server.config.ConfigException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Every command maps its flags to the same INFERQ_* overrides and ends the same way on a configuration error. */
class FlagOverridesTest {

    private static <T> T parsed(String sub, String... args) {
        CommandLine cl = new CommandLine(new InferqCommand());
        String[] all = new String[args.length + 1];
        all[0] = sub;
        System.arraycopy(args, 0, all, 1, args.length);
        cl.parseArgs(all);
        return cl.getSubcommands().get(sub).getCommand();
    }

    @Test
    void serveFlagsBecomeEnvironmentOverrides() {
        InferqCommand.Serve serve = parsed("serve", "--data-dir", "/d", "--roles", "ingress,dispatcher", "--http-port", "8081",
                "--http-host", "0.0.0.0", "--kafka-bootstrap-servers", "k:9092", "--hazelcast-members", "a:1,b:2",
                "--process-id", "p1", "--kafka-port", "19092", "--hazelcast-port", "5702");
        assertThat(serve.flags(Map.of("INFERQ_OTHER", "kept", "INFERQ_HTTP_PORT", "1")).env()).isEqualTo(Map.ofEntries(
                Map.entry("INFERQ_OTHER", "kept"), Map.entry("INFERQ_DATA_DIR", "/d"),
                Map.entry("INFERQ_ROLES", "ingress,dispatcher"), Map.entry("INFERQ_HTTP_PORT", "8081"),
                Map.entry("INFERQ_HTTP_HOST", "0.0.0.0"), Map.entry("INFERQ_KAFKA_EMBEDDED", "false"),
                Map.entry("INFERQ_KAFKA_BOOTSTRAP_SERVERS", "k:9092"), Map.entry("INFERQ_HAZELCAST_EMBEDDED", "false"),
                Map.entry("INFERQ_HAZELCAST_MEMBERS", "a:1,b:2"), Map.entry("INFERQ_PROCESS_ID", "p1"),
                Map.entry("INFERQ_KAFKA_PORT", "19092"), Map.entry("INFERQ_HAZELCAST_PORT", "5702")));
        InferqCommand.Serve none = parsed("serve");
        assertThat(none.flags(Map.of("INFERQ_HTTP_PORT", "1")).env()).isEqualTo(Map.of("INFERQ_HTTP_PORT", "1"));
    }

    @Test
    void brokerFlagsBecomeEnvironmentOverrides() {
        BrokerCommand broker = parsed("broker", "--data-dir", "/d", "--kafka-port", "19092", "--kafka-controller-port", "19093",
                "--hazelcast-port", "5702", "--host", "10.0.0.1");
        assertThat(broker.flags(Map.of()).env()).isEqualTo(Map.of("INFERQ_DATA_DIR", "/d", "INFERQ_KAFKA_PORT", "19092",
                "INFERQ_KAFKA_CONTROLLER_PORT", "19093", "INFERQ_HAZELCAST_PORT", "5702"));
    }

    @Test
    void theConfigFlagWinsOverInferqConfig() {
        assertThat(new FlagOverrides(Path.of("a.yaml"), Map.of("INFERQ_CONFIG", "b.yaml")).file()).isEqualTo(Path.of("a.yaml"));
        assertThat(new FlagOverrides(null, Map.of("INFERQ_CONFIG", "b.yaml")).file()).isEqualTo(Path.of("b.yaml"));
        assertThat(new FlagOverrides(null, Map.of()).file()).isNull();
    }

    @Test
    void aConfigurationErrorIsOneLineAndExitCodeTwo(@TempDir Path dir) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = FlagOverrides.configError("inferq broker", new ConfigException("setting 'kafka.port': bad"),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertThat(rc).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo("inferq broker: configuration error: setting 'kafka.port': bad"
                + System.lineSeparator());
        // every command, before it starts anything
        String missing = dir.resolve("missing.yaml").toString();
        assertThat(new CommandLine(new InferqCommand()).execute("broker", "--config", missing)).isEqualTo(2);
        assertThat(new CommandLine(new InferqCommand()).execute("serve", "--config", missing)).isEqualTo(2);
        assertThat(new CommandLine(new InferqCommand()).execute("topics", "--config", missing)).isEqualTo(2);
    }
}
