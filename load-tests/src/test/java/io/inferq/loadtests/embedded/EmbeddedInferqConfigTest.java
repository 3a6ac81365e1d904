package io.inferq.loadtests.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.ConfigLoader;
import io.inferq.server.config.InferqConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The load tests' in-process servers take the INFERQ_* overrides as serve does; the command's own edits win. */
class EmbeddedInferqConfigTest {

    @Test
    void environmentOverridesApplyAndTheCommandsEditsWin() {
        ObjectNode tree = EmbeddedInferq.config(EmbeddedInferq.Options.defaults().timeScale(1e6).policy("round-robin"), Map.of(
                "INFERQ_DISPATCHER_INTERACTIVE_MAX_WAIT_MS", "5",
                "INFERQ_RETENTION_FINISHED_JOB_HOURS", "2",
                "INFERQ_DISPATCHER_POLICY", "random",
                "PATH", "/usr/bin"));
        InferqConfig c = ConfigLoader.bind(tree);

        assertThat(c.dispatcher().interactiveMaxWaitMs()).isEqualTo(5);
        assertThat(c.retention().finishedJobHours()).isEqualTo(2);
        assertThat(c.dispatcher().policy()).as("the command's policy wins").isEqualTo("round-robin");
        assertThat(c.pools()).allSatisfy(p -> assertThat(p.timeScale()).isEqualTo(1e6));
    }

    @Test
    void aVariableThatNamesNoSettingIsRefused() {
        assertThatThrownBy(() -> EmbeddedInferq.config(EmbeddedInferq.Options.defaults(), Map.of("INFERQ_DISPATCHER_MAX_WAIT", "5")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("INFERQ_DISPATCHER_MAX_WAIT names no setting");
    }
}
