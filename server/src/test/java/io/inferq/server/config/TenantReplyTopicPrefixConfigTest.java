package io.inferq.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tenants[].reply-topic-prefix} (issue 13): read from the file, and a prefix that could name inferq's or Kafka's own topics is refused. */
class TenantReplyTopicPrefixConfigTest {

    @Test
    void aTenantsReplyTopicPrefixIsRead(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("inferq.yaml");
        Files.writeString(file, """
                tenants:
                  - id: acme
                    api-keys: [k1]
                    reply-topic-prefix: acme.
                  - id: globex
                    api-keys: [k2]
                """);
        InferqConfig c = ConfigLoader.load(file, Map.of());
        assertThat(c.tenants()).extracting(InferqConfig.TenantSetting::replyTopicPrefix).containsExactly("acme.", null);
    }

    @Test
    void aPrefixThatReachesInternalTopicsIsRefused(@TempDir Path dir) throws Exception {
        for (String bad : new String[] {"__", "inferq.", "a/b", "''"}) {
            Path file = dir.resolve("bad.yaml");
            Files.writeString(file, "tenants:\n  - id: acme\n    api-keys: [k1]\n    reply-topic-prefix: " + bad + "\n");
            assertThatThrownBy(() -> ConfigLoader.load(file, Map.of())).as(bad).isInstanceOf(ConfigException.class)
                    .hasMessageContaining("tenants[acme].reply-topic-prefix");
        }
    }
}
