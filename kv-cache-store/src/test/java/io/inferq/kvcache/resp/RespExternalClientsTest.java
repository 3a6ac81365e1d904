package io.inferq.kvcache.resp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.inferq.kvcache.TestHazelcast;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Redis-protocol tier through the clients engines and operators use: Debian's {@code redis-cli}
 * ({@code redis-tools}) and redis-py's asyncio client ({@code python3-redis}) replaying LMCache's Redis connector
 * call sequence on 18 MB values. Each test skips when its tool is not installed ({@code .ci/run} installs them).
 */
class RespExternalClientsTest {

    @BeforeAll
    static void startVertx() {
        RespServerTest.startVertx();
    }

    @AfterAll
    static void stop() throws Exception {
        RespServerTest.stop();
    }

    record Run(int exit, String output) {
    }

    static Run run(List<String> command, long timeoutSeconds) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(command + " did not finish in " + timeoutSeconds + " s");
        }
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    static String python() throws Exception {
        for (String candidate : List.of("/usr/bin/python3", "python3")) {
            try {
                if (run(List.of(candidate, "-c", "import redis.asyncio"), 60).exit() == 0) {
                    return candidate;
                }
            } catch (java.io.IOException e) {
                // not installed: try the next
            }
        }
        return null;
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void lmcacheRedisConnectorSequenceWithRedisPyAsyncio() throws Exception {
        String python = python();
        assumeTrue(python != null, "python3 with redis-py (Debian python3-redis) is not installed: skipping");
        Path script = Path.of("src/test/python/lmcache_redis_replay.py").toAbsolutePath();
        RespServer s = RespServerTest.server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 128L << 20,
                RespSettings.loopback(0));
        List<String> cmd = new ArrayList<>(List.of(python, script.toString(), "redis://127.0.0.1:" + s.port(),
                "3", String.valueOf(RespServerTest.MB18), "2"));
        Run r = run(cmd, 240);
        assertThat(r.output()).contains(" passed, 0 failed");
        assertThat(r.exit()).as(r.output()).isZero();
    }

    @Test
    void redisCli() throws Exception {
        assumeTrue(onPath("redis-cli"), "redis-cli (Debian redis-tools) is not installed: skipping");
        RespServer s = RespServerTest.server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 16L << 20,
                RespSettings.loopback(0));
        String port = String.valueOf(s.port());
        assertThat(run(List.of("redis-cli", "-p", port, "PING"), 60).output().trim()).isEqualTo("PONG");
        assertThat(run(List.of("redis-cli", "-p", port, "SET", "cli-key", "hello", "EX", "100"), 60).output().trim())
                .isEqualTo("OK");
        assertThat(run(List.of("redis-cli", "-p", port, "GET", "cli-key"), 60).output().trim()).isEqualTo("hello");
        assertThat(run(List.of("redis-cli", "-3", "-p", port, "GET", "nothing"), 60).output().trim()).isEmpty();   // nil prints as nothing without a terminal
        assertThat(run(List.of("redis-cli", "-p", port, "EXISTS", "cli-key", "cli-key", "x"), 60).output().trim())
                .isEqualTo("2");
        assertThat(run(List.of("redis-cli", "-p", port, "DEL", "cli-key"), 60).output().trim()).isEqualTo("1");
        assertThat(run(List.of("redis-cli", "-p", port, "LPUSH", "l", "x"), 60).output()).contains("ERR unknown command");
    }
}
