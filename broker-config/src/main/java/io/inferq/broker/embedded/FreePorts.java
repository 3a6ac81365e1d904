package io.inferq.broker.embedded;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Picks TCP ports that nothing listens on, for embedded brokers, tests and benchmarks that start several servers.
 *
 * <p>Asking the OS for an ephemeral port (bind to port 0, then close) may hand out the same port twice in a row, since
 * the port is free again once the probe socket closes. Two servers of one process given the same port do not fail
 * cleanly: Vert.x shares one listening socket between servers on the same port and spreads requests over their
 * handlers. So this class never returns a port it has already returned in this JVM. Another process can still take a
 * port between the pick and its use; callers that bind at once keep that window small.
 *
 * <p><b>Threading.</b> Safe from any thread.
 */
public final class FreePorts {
    private static final int ATTEMPTS = 100;
    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    private FreePorts() {
    }

    /** @return a port free on 127.0.0.1 now and not returned before by this class */
    public static int pick() {
        return pick("127.0.0.1");
    }

    /**
     * @param host the address to probe
     * @return a port free on {@code host} now and not returned before by this class
     * @throws UncheckedIOException when no port can be bound, or after {@value #ATTEMPTS} probes returned ports already
     *                              handed out
     */
    public static int pick(String host) {
        for (int i = 0; i < ATTEMPTS; i++) {
            int port;
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(host, 0));
                port = s.getLocalPort();
            } catch (IOException e) {
                throw new UncheckedIOException("no free port on " + host, e);
            }
            if (HANDED_OUT.add(port)) {
                return port;
            }
        }
        throw new UncheckedIOException(new IOException("no free port on " + host + " that was not handed out before, after "
                + ATTEMPTS + " probes"));
    }
}
