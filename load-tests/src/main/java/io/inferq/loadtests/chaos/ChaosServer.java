package io.inferq.loadtests.chaos;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The inferq server under test as a child process ({@code io.inferq.server.InferqCommand serve --config <file>}, the
 * main class of {@code server/target/inferq.jar}, on this JVM's class path) with a data directory and ports that
 * survive its death, so it can be killed with SIGKILL or stopped with SIGTERM and started again on the same state.
 * Its output is appended to {@code server.log} in the run's directory.
 */
final class ChaosServer {
    private final List<String> args;
    private final Path log;
    private final int httpPort;
    private final String heap;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final List<String> jvmOptions = new ArrayList<>();
    private volatile Process process;
    private int lives;

    ChaosServer(Path config, Path log, int httpPort, String heap) {
        this(List.of("serve", "--config", config.toString()), log, httpPort, heap);
    }

    /**
     * @param args     the {@code InferqCommand} arguments ({@code serve --config … --roles …}, {@code broker --config …})
     * @param httpPort the process's HTTP port, or -1 when it serves no HTTP (its readiness is its "ready in" line)
     */
    ChaosServer(List<String> args, Path log, int httpPort, String heap) {
        this.args = List.copyOf(args);
        this.log = log;
        this.httpPort = httpPort;
        this.heap = heap;
    }

    /** JVM options for the next lives (e.g. a class-data-sharing archive). */
    void jvmOptions(List<String> options) {
        jvmOptions.clear();
        jvmOptions.addAll(options);
    }

    /** Starts a new life of the server (does not wait). */
    void start() throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx" + heap,
                "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.inferq.broker.avro",
                "-Dhazelcast.logging.type=slf4j", "-Dhazelcast.phone.home.enabled=false",
                "--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/java.nio=ALL-UNNAMED",
                "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
                "--add-opens", "java.management/sun.management=ALL-UNNAMED",
                "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.inferq.server.InferqCommand"));
        cmd.addAll(args);
        lives++;
        Files.writeString(log, "\n==== life " + lives + " ====\n", StandardCharsets.UTF_8,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        process = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        if (lives == 1) {
            // the run may end any way (an exception, ^C): never leave a server child behind
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                Process p = process;
                if (p != null && p.isAlive()) {
                    p.destroyForcibly();
                }
            }, "chaos-server-reaper"));
        }
    }

    /** SIGKILL, then waits until the process is gone. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM (graceful shutdown), then waits up to 90 s; SIGKILL after that. @return true if it stopped by itself */
    boolean sigterm() throws InterruptedException {
        process.destroy();
        if (process.waitFor(90, TimeUnit.SECONDS)) {
            return true;
        }
        kill9();
        return false;
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    String base() {
        return "http://127.0.0.1:" + httpPort;
    }

    /** @return the status of {@code GET path}, or -1 when nothing answers (connection refused, timeout) */
    int get(String path) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(3)).GET().build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * Waits until {@code /ready} answers 200 or, for a process without HTTP, until this life has printed its "ready in"
     * line. @return false on timeout or if the process died
     */
    boolean awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!alive()) {
                return false;
            }
            if (httpPort < 0 ? readyLines() >= lives : get("/ready") == 200) {
                return true;
            }
            Thread.sleep(200);
        }
        return false;
    }

    /** @return how many lives have printed their "ready in" line ({@code serve} and {@code broker} print one each) */
    private long readyLines() {
        try (var lines = Files.lines(log, StandardCharsets.ISO_8859_1)) { // never malformed
            return lines.filter(l -> l.startsWith("inferq ready in ") || l.startsWith("inferq broker ready in ")).count();
        } catch (IOException | java.io.UncheckedIOException e) {
            return 0;
        }
    }
}
