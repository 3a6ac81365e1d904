package io.inferq.loadtests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every flag each command reads is documented in the README's load-tests section (which the usage text points to).
 * A command given an unknown flag names every flag it read before refusing it, so this needs no server.
 */
class FlagsDocumentedTest {
    static final List<String> COMMANDS = List.of("replay", "serve", "bench-overhead", "bench-policies", "bench-burst", "bench-memory",
            "chaos", "bench-kv-resp", "bench-fairness", "bench-batch", "bench-kv-routing", "sim-policies", "kv-experiment",
            "gen-trace");

    static String loadTestsSection() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        int from = readme.indexOf("## Load tests: trace replay and benchmarks");
        assertThat(from).as("README has the load tests section").isNotNegative();
        int to = readme.indexOf("\n## ", from + 10);
        return readme.substring(from, to < 0 ? readme.length() : to);
    }

    static List<String> flagsOf(String command) {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        try {
            LoadCommand.run(List.of(command, "--zz-not-a-flag", "1"), quiet);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            assertThat(m).startsWith("unknown flag --zz-not-a-flag; known: --");
            return Arrays.stream(m.substring(m.indexOf("known: --") + "known: --".length()).split(", --")).toList();
        }
        throw new AssertionError(command + " accepted an unknown flag");
    }

    @Test
    void everyFlagOfEveryCommandIsInTheReadme() throws Exception {
        String section = loadTestsSection();
        for (String command : COMMANDS) {
            assertThat(section).as("README documents command " + command).contains("`" + command + "`");
            for (String flag : flagsOf(command)) {
                assertThat(Pattern.compile("--" + Pattern.quote(flag) + "(?![a-z0-9-])").matcher(section).find())
                        .as("README load-tests section documents --%s of %s", flag, command).isTrue();
            }
        }
    }

    @Test
    void usagePointsToTheReadmeSection() throws Exception {
        assertThat(LoadCommand.USAGE).doesNotContain("docs-load-tests.md").contains("README.md")
                .contains("Load tests: trace replay and benchmarks");
        for (String command : COMMANDS) {
            assertThat(LoadCommand.USAGE).contains("  " + command + " ");
        }
        assertThat(loadTestsSection()).isNotEmpty();
    }

    @Test
    void badFlagValuesAreNamed() {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertThatThrownBy(() -> LoadCommand.run(List.of("replay", "--fleet", "nope"), quiet)).hasMessageContaining("--fleet");
        assertThatThrownBy(() -> LoadCommand.run(List.of("replay", "--over-budget", "drop"), quiet)).hasMessageContaining("--over-budget");
        assertThatThrownBy(() -> LoadCommand.run(List.of("serve", "--http-port", "1"), quiet)).hasMessageContaining("--data-dir");
    }
}
