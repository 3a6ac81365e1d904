package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.server.config.ConfigException;
import io.inferq.server.config.ConfigLoader;
import io.inferq.server.config.InferqConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** What a new user meets first: every sub-command's --help and --config, the topics default, the webhook key. */
class ClientFrictionTest {

    private static String run(String... args) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new InferqCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(out));
        int rc = cl.execute(args);
        assertThat(rc).as(out.toString()).isZero();
        return out.toString();
    }

    @Test
    void everySubCommandTakesHelpAndConfig() {
        String serve = run("serve", "--help");
        assertThat(serve).contains("--config", "--kafka-port", "--hazelcast-port", "--http-port");
        String topics = run("topics", "--help");
        assertThat(topics).contains("--config", "--bootstrap-servers", "127.0.0.1:9092");
    }

    @Test
    void topicsUsesTheConfiguredKafka(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("inferq.yaml");
        Files.writeString(file, "kafka:\n  port: 19092\n");
        assertThat(InferqCommand.Topics.bootstrapOf(ConfigLoader.load(file, Map.of()))).isEqualTo("127.0.0.1:19092");
        Files.writeString(file, "kafka:\n  embedded: false\n  bootstrap-servers: broker-1:9092\n");
        assertThat(InferqCommand.Topics.bootstrapOf(ConfigLoader.load(file, Map.of()))).isEqualTo("broker-1:9092");
        assertThat(InferqCommand.Topics.bootstrapOf(ConfigLoader.load(null, Map.of()))).isEqualTo("127.0.0.1:9092");
    }

    @Test
    void theWebhookAllowlistIsAListNotASwitch(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("inferq.yaml");
        Files.writeString(file, "webhooks:\n  allow-private-targets: true\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("webhooks.allow-private-targets is a list");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("webhooks.allow-private-targets is a list");
        Files.writeString(file, "webhooks:\n  allowlist: [127.0.0.1]\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("allowlist");
        Files.writeString(file, "webhooks:\n  allow-private-targets: [127.0.0.1, 10.20.0.0/16]\n");
        InferqConfig c = ConfigLoader.load(file, Map.of());
        assertThat(c.webhooks().allowPrivateTargets()).containsExactly("127.0.0.1", "10.20.0.0/16");
        assertThat(c.http().syncWaitMs()).isEqualTo(120_000);
    }

    @Test
    void aRefusedWebhookNamesTheRealSetting() {
        var policy = new io.inferq.ingress.webhooks.WebhookTargetPolicy(false, java.util.List.of());
        assertThat(policy.check("http://127.0.0.1:9/hook")).contains("webhooks.allow-private-targets")
                .doesNotContain("webhooks.allowlist");
    }
}
