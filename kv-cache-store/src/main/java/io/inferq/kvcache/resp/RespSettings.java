package io.inferq.kvcache.resp;

import java.util.Map;

/**
 * Settings of the Redis-protocol tier, validated here (messages name the {@code kv-cache.resp-*} setting).
 *
 * @param host                        interface to listen on (loopback by default: the tier has no TLS)
 * @param port                        port; 0 picks a free one
 * @param maxValueBytes               largest value a SET may carry; larger ones get {@code -ERR} (the bytes are skipped,
 *                                    the connection stays open)
 * @param maxConnectionInflightBytes  largest total of one command's arguments
 * @param maxInflightBytes            all connections' values in flight together (receiving, storing, replying);
 *                                    beyond it connections stop reading until bytes are released
 * @param maxConnections              connections at once; more are answered {@code -ERR} and closed
 * @param workerThreads               threads that run the Hazelcast calls (never the event loop)
 * @param namespaceByKey              AUTH key → namespace (a tenant's cache salt); empty: no AUTH needed, one
 *                                    open namespace
 */
public record RespSettings(String host, int port, int maxValueBytes, long maxConnectionInflightBytes,
                           long maxInflightBytes, int maxConnections, int workerThreads,
                           Map<String, String> namespaceByKey) {

    /** The namespace of every connection when no tenants are configured. */
    public static final String OPEN_NAMESPACE = "open";

    public RespSettings {
        require(host != null && !host.isBlank(), "kv-cache.resp-host must be set");
        require(port >= 0 && port <= 65535, "kv-cache.resp-port must be 0-65535 (or -1 to disable), was " + port);
        require(maxValueBytes >= 1, "kv-cache.resp-max-value-bytes must be positive, was " + maxValueBytes);
        require(maxConnectionInflightBytes >= maxValueBytes,
                "kv-cache.resp-max-connection-inflight-bytes must be at least kv-cache.resp-max-value-bytes, was "
                        + maxConnectionInflightBytes);
        require(maxInflightBytes >= maxConnectionInflightBytes,
                "kv-cache.resp-max-inflight-bytes must be at least kv-cache.resp-max-connection-inflight-bytes, was "
                        + maxInflightBytes);
        require(maxConnections >= 1, "kv-cache.resp-max-connections must be positive, was " + maxConnections);
        require(workerThreads >= 1 && workerThreads <= 256, "kv-cache.resp-worker-threads must be 1-256, was " + workerThreads);
        namespaceByKey = namespaceByKey == null ? Map.of() : Map.copyOf(namespaceByKey);
    }

    /** Loopback, free port, 64 MiB values, 1 GiB in flight, no tenants. */
    public static RespSettings loopback(int port) {
        return new RespSettings("127.0.0.1", port, 64 << 20, 128L << 20, 1L << 30, 256, 8, Map.of());
    }

    public RespSettings withTenants(Map<String, String> namespaceByKey) {
        return new RespSettings(host, port, maxValueBytes, maxConnectionInflightBytes, maxInflightBytes, maxConnections,
                workerThreads, namespaceByKey);
    }

    public RespSettings withLimits(int maxValueBytes, long maxConnectionInflightBytes, long maxInflightBytes) {
        return new RespSettings(host, port, maxValueBytes, maxConnectionInflightBytes, maxInflightBytes, maxConnections,
                workerThreads, namespaceByKey);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
