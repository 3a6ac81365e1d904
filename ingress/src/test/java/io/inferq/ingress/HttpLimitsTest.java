package io.inferq.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Slow or partial requests cannot hold connections: headers and bodies have deadlines, idle connections close, and one
 * process holds a bounded number of connections. Timeouts here are short (hundreds of ms); the tests wait for the
 * outcome with generous limits.
 */
class HttpLimitsTest {
    private Vertx vertx;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicInteger posted = new AtomicInteger();

    private IngressServer start(HttpLimits limits) throws Exception {
        vertx = Vertx.vertx();
        java.util.function.Consumer<Router> api = r -> {
            r.post("/echo").handler(ctx -> {
                posted.incrementAndGet();
                ctx.response().end("got " + ctx.body().length());
            });
            // a handler that answers late, as a synchronous chat completion waiting for its job
            r.get("/slow").handler(ctx -> vertx.setTimer(1500, t -> ctx.response().end("late")));
        };
        IngressServer server = new IngressServer("127.0.0.1", 0, 1 << 20, limits, List.of(api), List.of(), Map::of, () -> "",
                OperatorAccess.OPEN, registry);
        vertx.deployVerticle(server).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        return server;
    }

    @AfterEach
    void stop() throws Exception {
        if (vertx != null) {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private double count(String name, String... tags) {
        var c = registry.find(name).tags(tags).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void aBodyShorterThanItsContentLengthIsAnswered408AndClosed() throws Exception {
        IngressServer server = start(new HttpLimits(60_000, 60_000, 500, 100));
        try (Socket s = socket(server)) {
            write(s, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":1");
            String answer = readUntilClosed(s);
            assertThat(answer).startsWith("HTTP/1.1 408");
            assertThat(answer).contains("request_timeout");
            assertThat(answer.toLowerCase()).contains("connection: close");
        }
        assertThat(posted).as("the handler never ran").hasValue(0);
        assertThat(count("inferq.http.timeouts", "kind", "body")).isEqualTo(1);
    }

    @Test
    void headersSentByteByByteAreCutOffAtTheHeaderDeadline() throws Exception {
        IngressServer server = start(new HttpLimits(60_000, 700, 60_000, 100));
        try (Socket s = socket(server)) {
            write(s, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            long start = System.nanoTime();
            boolean closed = false;
            // a byte every 100 ms keeps the connection from being idle, but the headers never complete
            while (!closed && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20)) {
                try {
                    s.getOutputStream().write('a');
                    s.getOutputStream().flush();
                    s.setSoTimeout(100);
                    closed = s.getInputStream().read() < 0;
                } catch (SocketTimeoutException e) {
                    // still open
                } catch (IOException e) {
                    closed = true;
                }
            }
            assertThat(closed).as("closed by the server").isTrue();
        }
        assertThat(count("inferq.http.timeouts", "kind", "header")).isEqualTo(1);
    }

    @Test
    void aConnectionThatSendsNothingIsClosed() throws Exception {
        IngressServer server = start(new HttpLimits(60_000, 500, 60_000, 100));
        try (Socket s = socket(server)) {
            assertThat(readUntilClosed(s)).isEmpty();
        }
        assertThat(count("inferq.http.timeouts", "kind", "header")).isEqualTo(1);
    }

    @Test
    void anIdleKeptAliveConnectionIsClosed() throws Exception {
        IngressServer server = start(new HttpLimits(500, 60_000, 60_000, 100));
        try (Socket s = socket(server)) {
            write(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(readUntilClosed(s)).startsWith("HTTP/1.1 200");
        }
        assertThat(count("inferq.http.timeouts", "kind", "idle")).isEqualTo(1);
    }

    @Test
    void aRequestInProgressIsNeverIdle() throws Exception {
        IngressServer server = start(new HttpLimits(300, 300, 300, 100));
        try (Socket s = socket(server)) {
            write(s, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(readAnswer(s)).startsWith("HTTP/1.1 200").endsWith("late");
        }
        assertThat(count("inferq.http.timeouts", "kind", "idle") + count("inferq.http.timeouts", "kind", "header")).isZero();
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAtOnceAndCounted() throws Exception {
        IngressServer server = start(new HttpLimits(60_000, 60_000, 60_000, 3));
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Socket s = socket(server);
                write(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(readAnswer(s)).startsWith("HTTP/1.1 200");
                held.add(s);
            }
            assertThat(registry.find("inferq.http.connections.open").gauge().value()).isEqualTo(3);
            try (Socket extra = socket(server)) {
                assertThat(readUntilClosed(extra)).as("the fourth connection is closed").isEmpty();
            }
            assertThat(count("inferq.http.connections.refused")).isEqualTo(1);
            held.remove(0).close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (registry.find("inferq.http.connections.open").gauge().value() > 2 && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
            }
            try (Socket again = socket(server)) {
                write(again, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
                assertThat(readAnswer(again)).as("room again once one closed").startsWith("HTTP/1.1 200");
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    @Test
    void settingsAreChecked() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new HttpLimits(60_000, 10_000, 30_000, 0))
                .hasMessageContaining("http.max-connections");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new HttpLimits(10, 10_000, 30_000, 10))
                .hasMessageContaining("http.idle-timeout-ms");
        assertThat(new JsonObject().put("k", HttpLimits.DEFAULTS.maxConnections()).getInteger("k")).isEqualTo(10_000);
    }

    private static Socket socket(IngressServer server) throws IOException {
        Socket s = new Socket("127.0.0.1", server.actualPort());
        s.setSoTimeout(20_000);
        return s;
    }

    private static void write(Socket s, String text) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    /** Everything the server sends until it closes the connection (fails the test if it stays open 20 s). */
    private static String readUntilClosed(Socket s) throws IOException {
        s.setSoTimeout(20_000);
        InputStream in = s.getInputStream();
        StringBuilder sb = new StringBuilder();
        try {
            for (int c = in.read(); c >= 0; c = in.read()) {
                sb.append((char) c);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the server kept the connection open; got so far: " + sb);
        } catch (IOException e) {
            // reset: closed
        }
        return sb.toString();
    }

    /** One answer with a Content-Length body. */
    private static String readAnswer(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            head.append((char) c);
        }
        int len = 0;
        for (String line : head.toString().split("\r\n")) {
            if (line.toLowerCase().startsWith("content-length:")) {
                len = Integer.parseInt(line.substring(15).trim());
            }
        }
        return head + new String(in.readNBytes(len), StandardCharsets.UTF_8);
    }
}
