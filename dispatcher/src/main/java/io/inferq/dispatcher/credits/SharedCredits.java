package io.inferq.dispatcher.credits;

import java.util.HashMap;
import java.util.Map;

/**
 * Credits of pool instances shared by several dispatchers in one process (the policy simulator, tests): one count
 * per (pool, instance) and owner. Thread-safe (one lock). {@link #gate} gives each dispatcher its view.
 */
final class SharedCredits {

    private final Map<String, Map<String, Integer>> taken = new HashMap<>();

    /** The gate of dispatcher {@code owner}. */
    public CreditGate gate(String owner) {
        return new CreditGate() {
            @Override
            public boolean tryAcquire(String poolId, int instance, int maxPerInstance) {
                synchronized (taken) {
                    Map<String, Integer> byOwner = taken.computeIfAbsent(key(poolId, instance), k -> new HashMap<>());
                    int sum = byOwner.values().stream().mapToInt(Integer::intValue).sum();
                    if (sum >= maxPerInstance) {
                        return false;
                    }
                    byOwner.merge(owner, 1, Integer::sum);
                    return true;
                }
            }

            @Override
            public void release(String poolId, int instance) {
                synchronized (taken) {
                    Map<String, Integer> byOwner = taken.get(key(poolId, instance));
                    if (byOwner != null) {
                        byOwner.computeIfPresent(owner, (o, n) -> n <= 1 ? null : n - 1);
                    }
                }
            }
        };
    }

    /** Credits taken on one instance by all owners together. */
    public int taken(String poolId, int instance) {
        synchronized (taken) {
            Map<String, Integer> byOwner = taken.get(key(poolId, instance));
            return byOwner == null ? 0 : byOwner.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    private static String key(String poolId, int instance) {
        return poolId + "#" + instance;
    }
}
