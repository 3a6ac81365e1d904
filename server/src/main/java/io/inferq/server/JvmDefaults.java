package io.inferq.server;

/**
 * System properties inferq needs before any library class loads; {@link #install()} is the first statement of
 * every {@code main}. A property already given with {@code -D} is kept.
 */
public final class JvmDefaults {
    /** The common pool's parallelism is read once, when {@code ForkJoinPool} initialises. */
    static final String COMMON_POOL_PARALLELISM = "java.util.concurrent.ForkJoinPool.common.parallelism";

    private JvmDefaults() {
    }

    /**
     * Sets: Avro's trusted packages (Avro refuses to decode generated classes of other packages); Hazelcast
     * logging through SLF4J; and a common fork-join pool of at least 2 threads. On a machine with 2 or fewer
     * cores the JDK's default common pool has parallelism 1, and then {@code CompletableFuture}'s default async
     * executor — which Hazelcast uses for every async callback — starts a new thread per task (thousands per
     * second under load).
     */
    public static void install() {
        setIfAbsent("org.apache.avro.SERIALIZABLE_PACKAGES", "io.inferq.broker.avro");
        setIfAbsent("hazelcast.logging.type", "slf4j");
        setIfAbsent("hazelcast.phone.home.enabled", "false");
        setIfAbsent(COMMON_POOL_PARALLELISM, Integer.toString(Math.max(2, Runtime.getRuntime().availableProcessors() - 1)));
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
