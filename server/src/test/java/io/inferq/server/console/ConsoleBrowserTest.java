package io.inferq.server.console;

import static io.inferq.server.console.ConsoleFixture.ACME;
import static io.inferq.server.console.ConsoleFixture.FAST_MODEL;
import static io.inferq.server.console.ConsoleFixture.OPERATOR_KEY;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The console in a real browser: Debian's Chromium, headless, driven by {@code playwright-core} from npm (both installed
 * by {@code .ci/run}) through {@code src/test/console/console-check.mjs}. Starts inferq, submits jobs, and lets the
 * script check pools, lanes, a finished job's status and timeline, cancel a job and replay a failed delivery from the
 * page; screenshots land in {@code target/console-screenshots}. Skips, saying what is missing, without Chromium, Node or
 * playwright-core.
 */
class ConsoleBrowserTest {
    static final Path SCRIPT = Path.of("src/test/console/console-check.mjs");
    static final Path OUT = Path.of("target/console-screenshots");

    /** Where playwright-core is installed: {@code INFERQ_PLAYWRIGHT_DIR}, else {@code .ci/tools/playwright} of the repository. */
    static Path playwrightDir() {
        String configured = System.getenv("INFERQ_PLAYWRIGHT_DIR");
        return configured != null ? Path.of(configured) : Path.of("..", ".ci", "tools", "playwright").toAbsolutePath().normalize();
    }

    static Path chromium() {
        String configured = System.getenv("INFERQ_CHROMIUM");
        return Path.of(configured != null ? configured : "/usr/bin/chromium");
    }

    static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    static void assumeBrowserTools() {
        Assumptions.assumeTrue(Files.isExecutable(chromium()), "console browser test skipped: no Chromium at " + chromium()
                + " (apt-get install chromium; .ci/run does)");
        Assumptions.assumeTrue(onPath("node"), "console browser test skipped: node is not on the PATH (apt-get install nodejs)");
        Assumptions.assumeTrue(Files.isDirectory(playwrightDir().resolve("node_modules/playwright-core")),
                "console browser test skipped: playwright-core is not installed in " + playwrightDir()
                        + " (npm install --prefix " + playwrightDir() + " playwright-core; .ci/run does)");
    }

    @Test
    void anOperatorSeesPoolsLanesAndJobsCancelsAJobAndReplaysADeliveryFromThePage() throws Exception {
        assumeBrowserTools();
        ConsoleFixture f = ConsoleFixture.get();
        String done = f.submit(ACME, FAST_MODEL, null);
        String slow = f.submitParked(ACME);
        String hooked = f.submit(ACME, FAST_MODEL, f.hookUrl("browser-test"));
        f.awaitStatus(done, "succeeded");
        String delivery = f.awaitFailedDelivery(hooked);
        List<String> pools = f.get("/v1/console/overview", OPERATOR_KEY).getJsonArray("pools").stream()
                .map(p -> ((JsonObject) p).getString("id")).toList();

        ProcessBuilder pb = new ProcessBuilder("node", SCRIPT.toString()).redirectErrorStream(true);
        pb.environment().put("BASE", f.base());
        pb.environment().put("KEY", OPERATOR_KEY);
        pb.environment().put("POOLS", String.join(",", pools));
        pb.environment().put("DONE_JOB", done);
        pb.environment().put("CANCEL_JOB", slow);
        pb.environment().put("DELIVERY", delivery);
        pb.environment().put("OUT", OUT.toAbsolutePath().toString());
        pb.environment().put("PLAYWRIGHT_DIR", playwrightDir().toString());
        pb.environment().put("CHROMIUM", chromium().toString());
        Process p = pb.start();
        String output;
        try (var in = p.getInputStream()) {
            if (!p.waitFor(180, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("the console script did not finish in 180 s");
            }
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        String last = output.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b).orElse("{}");
        assertThat(p.exitValue()).as(output).isZero();
        JsonObject result = new JsonObject(last);
        assertThat(result.getBoolean("ok")).as(output).isTrue();
        JsonObject seen = result.getJsonObject("seen");
        assertThat(seen.getJsonArray("pools").stream().map(String::valueOf).toList()).containsExactlyElementsOf(pools);
        assertThat(seen.getString("doneStatus")).isEqualTo("succeeded");
        assertThat(seen.getString("beforeCancel")).isEqualTo("queued");
        assertThat(seen.getString("afterCancel")).isEqualTo("cancelled");
        assertThat(seen.getJsonArray("lanes").stream().map(String::valueOf).toList()).anyMatch(l -> l.startsWith("batch:")
                && !l.equals("batch:0"));

        // what the page did, seen through the API
        assertThat(f.status(slow)).isEqualTo("cancelled");
        assertThat(f.get("/v1/console/webhooks?status=failed", OPERATOR_KEY).getJsonArray("data").stream()
                .noneMatch(d -> ((JsonObject) d).getString("id").equals(delivery))).isTrue();
        for (String shot : List.of("console-fleet.png", "console-queues.png", "console-job-timeline.png", "console-webhooks.png",
                "console-kafka.png", "console-throughput.png")) {
            assertThat(OUT.resolve(shot)).as(shot).isNotEmptyFile();
        }
    }
}
