package io.inferq.ingress;

import io.inferq.ingress.api.ApiError;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Enforces {@link HttpLimits} on the HTTP listener's connections: the connection limit when a connection opens, and
 * the deadlines by a periodic scan (a quarter of the shortest deadline, 25 ms to 1 s).
 *
 * <ul>
 *   <li>header deadline: a new connection must deliver a complete request line and headers within
 *       {@code header-timeout-ms}; else it is closed (there is no request to answer);
 *   <li>idle deadline: a kept-alive connection must deliver its next request's headers within {@code idle-timeout-ms}
 *       of its previous answer; else it is closed. A request in progress (a synchronous call waiting for its job) is
 *       never idle, however long it takes;
 *   <li>body deadline: a request's body must be complete within {@code body-timeout-ms} of its headers, plus one
 *       second per MiB of its {@code Content-Length} (so a 200 MB file upload needs 1 MiB/s, not 7 MB/s); else
 *       {@code 408 request_timeout} with {@code Connection: close}, and the connection is closed. The handler never
 *       ran (the body handler waits for the whole body), so nothing was accepted.
 * </ul>
 *
 * <p>Metrics: {@code inferq.http.connections.open} (gauge), {@code inferq.http.connections.refused} and
 * {@code inferq.http.timeouts{kind=header|idle|body}} (counters).
 *
 * <p>Threading: every method runs on the listener verticle's event loop (connection and request handlers, its timer);
 * only the open-connection count is read from other threads (the gauge).
 */
final class ConnectionGuard {
    private final Vertx vertx;
    private final HttpLimits limits;
    private final Map<HttpConnection, State> open = new HashMap<>();
    private final AtomicInteger count = new AtomicInteger();
    private final Counter refused;
    private final Counter headerTimeouts;
    private final Counter idleTimeouts;
    private final Counter bodyTimeouts;
    private final long timer;

    /** One connection: waiting for a request since a time, or with a request in progress. */
    private static final class State {
        long waitingSince;
        boolean answeredBefore;
        HttpServerRequest current;
        long headersAt;
        /** Extra time the current request's body may take: its declared length at {@link #MIN_BODY_BYTES_PER_SECOND}. */
        long bodyAllowanceNs;

        State(long now) {
            waitingSince = now;
        }
    }

    ConnectionGuard(Vertx vertx, HttpLimits limits, MeterRegistry registry) {
        this.vertx = vertx;
        this.limits = limits;
        Gauge.builder("inferq.http.connections.open", count, AtomicInteger::get)
                .description("HTTP connections this process holds").register(registry);
        this.refused = Counter.builder("inferq.http.connections.refused")
                .description("connections closed at once: http.max-connections were open").register(registry);
        this.headerTimeouts = Counter.builder("inferq.http.timeouts").tag("kind", "header")
                .description("connections closed because a request's headers did not arrive in time").register(registry);
        this.idleTimeouts = Counter.builder("inferq.http.timeouts").tag("kind", "idle")
                .description("kept-alive connections closed because no next request arrived in time").register(registry);
        this.bodyTimeouts = Counter.builder("inferq.http.timeouts").tag("kind", "body")
                .description("requests answered 408 because their body did not arrive in time").register(registry);
        long period = Math.max(25, Math.min(1000, Math.min(limits.idleTimeoutMs(),
                Math.min(limits.headerTimeoutMs(), limits.bodyTimeoutMs())) / 4));
        this.timer = vertx.setPeriodic(period, t -> scan());
    }

    void opened(HttpConnection conn) {
        if (count.get() >= limits.maxConnections()) {
            refused.increment();
            conn.close();
            return;
        }
        count.incrementAndGet();
        open.put(conn, new State(System.nanoTime()));
        conn.closeHandler(v -> {
            if (open.remove(conn) != null) {
                count.decrementAndGet();
            }
        });
    }

    void requestStarted(HttpServerRequest req) {
        State st = open.get(req.connection());
        if (st != null) {
            st.current = req;
            st.headersAt = System.nanoTime();
            st.answeredBefore = true;
            st.bodyAllowanceNs = bodyAllowanceNs(req.getHeader("Content-Length"));
        }
    }

    /**
     * A large body (a file upload of up to 200 MB) is not expected within {@code body-timeout-ms}: it gets one more
     * second per {@value #MIN_BODY_BYTES_PER_SECOND} bytes it declares, i.e. a client must sustain at least 1 MiB/s.
     */
    static final long MIN_BODY_BYTES_PER_SECOND = 1024 * 1024;

    static long bodyAllowanceNs(String contentLength) {
        if (contentLength == null) {
            return 0;
        }
        try {
            long n = Long.parseLong(contentLength.trim());
            return n <= 0 ? 0 : TimeUnit.SECONDS.toNanos(Math.min(n, 1L << 40) / MIN_BODY_BYTES_PER_SECOND);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    void stop() {
        vertx.cancelTimer(timer);
    }

    private void scan() {
        long now = System.nanoTime();
        long headerNs = TimeUnit.MILLISECONDS.toNanos(limits.headerTimeoutMs());
        long idleNs = TimeUnit.MILLISECONDS.toNanos(limits.idleTimeoutMs());
        long bodyNs = TimeUnit.MILLISECONDS.toNanos(limits.bodyTimeoutMs());
        List<Map.Entry<HttpConnection, State>> all = new ArrayList<>(open.entrySet());
        for (Map.Entry<HttpConnection, State> e : all) {
            State st = e.getValue();
            HttpServerRequest req = st.current;
            if (req != null && req.response().ended()) {
                st.current = null;
                st.waitingSince = now;
                req = null;
            }
            if (req == null) {
                if (now - st.waitingSince > (st.answeredBefore ? idleNs : headerNs)) {
                    (st.answeredBefore ? idleTimeouts : headerTimeouts).increment();
                    forget(e.getKey());
                    e.getKey().close();
                }
            } else if (!req.isEnded() && now - st.headersAt > bodyNs + st.bodyAllowanceNs) {
                bodyTimeouts.increment();
                forget(e.getKey());
                answerTimeout(req, e.getKey());
            }
        }
    }

    private void forget(HttpConnection conn) {
        if (open.remove(conn) != null) {
            count.decrementAndGet();
        }
    }

    private void answerTimeout(HttpServerRequest req, HttpConnection conn) {
        HttpServerResponse resp = req.response();
        if (resp.headWritten()) {
            conn.close();
            return;
        }
        ApiError err = new ApiError(408, "invalid_request_error", "request_timeout", "the request body did not arrive within "
                + limits.bodyTimeoutMs() + " ms of its headers (http.body-timeout-ms); nothing was accepted", null, 0);
        resp.setStatusCode(408).putHeader("Content-Type", "application/json").putHeader("Connection", "close")
                .end(err.toJson().encode()).onComplete(v -> conn.close());
    }
}
