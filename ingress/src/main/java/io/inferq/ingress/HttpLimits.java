package io.inferq.ingress;

/**
 * Connection limits and timeouts of the HTTP listener: how long a client may take, and how many connections one
 * process holds, so that slow or partial requests cannot hold connections forever.
 *
 * @param idleTimeoutMs   a kept-alive connection must deliver its next request's headers this long after its previous
 *                        answer; else it is closed (a request in progress is never idle, however long it takes)
 * @param headerTimeoutMs a new connection's first request line and headers must be complete this long after it
 *                        opened; else the connection is closed
 * @param bodyTimeoutMs   a request's body must be complete this long after its headers; else {@code 408} and close
 * @param maxConnections  connections this process holds at once; one more is closed at once (and counted)
 */
public record HttpLimits(long idleTimeoutMs, long headerTimeoutMs, long bodyTimeoutMs, int maxConnections) {
    /** 60 s idle, 10 s for headers, 30 s for a body, 10,000 connections. */
    public static final HttpLimits DEFAULTS = new HttpLimits(60_000, 10_000, 30_000, 10_000);

    public HttpLimits {
        if (idleTimeoutMs < 100) {
            throw new IllegalArgumentException("http.idle-timeout-ms must be at least 100, was " + idleTimeoutMs);
        }
        if (headerTimeoutMs < 100) {
            throw new IllegalArgumentException("http.header-timeout-ms must be at least 100, was " + headerTimeoutMs);
        }
        if (bodyTimeoutMs < 100) {
            throw new IllegalArgumentException("http.body-timeout-ms must be at least 100, was " + bodyTimeoutMs);
        }
        if (maxConnections < 1) {
            throw new IllegalArgumentException("http.max-connections must be at least 1, was " + maxConnections);
        }
    }
}
