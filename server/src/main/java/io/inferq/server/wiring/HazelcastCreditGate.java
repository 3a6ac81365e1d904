package io.inferq.server.wiring;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import io.inferq.dispatcher.credits.CreditGate;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dispatchers' shared batch credits in a Hazelcast map: one entry per pool instance ({@code pool#instance}) holding
 * each dispatcher's count of credits taken there, with a lease. Taking a credit is one entry processor on the entry's
 * partition owner (atomic: the sum of all owners' counts never exceeds the maximum); giving one back is another.
 *
 * <p><b>Dead dispatchers.</b> Each owner's count carries the time it was last renewed; a live dispatcher renews every
 * entry it holds every {@code leaseMs / 3} (a daemon thread of this gate). Counts of an owner not renewed for
 * {@code leaseMs} (default {@value #DEFAULT_LEASE_MS} ms: a crashed process) are dropped by the next taker, so a dead
 * dispatcher's credits come back within one lease. A dispatcher cut off from the cluster longer than that may briefly
 * overrun an instance together with the others (its engine's own 429/503 still protects it).
 *
 * <p><b>Failure.</b> A map call that fails (a member leaving) refuses the credit: the batch waits and is tried again
 * (the scheduler's gate retry), never sent beyond the limit. A failed release is logged; the lease then frees it.
 *
 * <p>Blocking (one network round trip per batch and per release): call from the dispatcher's worker context, never an
 * event loop.
 */
public final class HazelcastCreditGate implements CreditGate, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HazelcastCreditGate.class);
    public static final String MAP = "inferq.dispatcher-credits";
    public static final long DEFAULT_LEASE_MS = 30_000;

    private final IMap<String, HashMap<String, long[]>> credits;
    private final String owner;
    private final long leaseMs;
    /** Entries this dispatcher holds credits on, with how many (for renewing). */
    private final Map<String, Integer> held = new ConcurrentHashMap<>();
    private final ScheduledExecutorService renewer;

    /**
     * @param owner this dispatcher's id, unique in the cluster (the process id)
     */
    public HazelcastCreditGate(HazelcastInstance hz, String owner, long leaseMs) {
        this.credits = hz.getMap(MAP);
        this.owner = Objects.requireNonNull(owner, "owner must not be null");
        if (leaseMs < 3) {
            throw new IllegalArgumentException("leaseMs must be at least 3, was " + leaseMs);
        }
        this.leaseMs = leaseMs;
        this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dispatcher-credit-leases");
            t.setDaemon(true);
            return t;
        });
        renewer.scheduleWithFixedDelay(this::renew, leaseMs / 3, leaseMs / 3, TimeUnit.MILLISECONDS);
    }

    @Override
    public boolean tryAcquire(String poolId, int instance, int maxPerInstance) {
        String key = poolId + "#" + instance;
        try {
            Boolean ok = credits.executeOnKey(key, new Take(owner, maxPerInstance, leaseMs));
            if (Boolean.TRUE.equals(ok)) {
                held.merge(key, 1, Integer::sum);
                return true;
            }
            return false;
        } catch (RuntimeException e) {
            LOG.warn("shared credit of {} not taken ({}); the batch waits", key, e.toString());
            return false;
        }
    }

    @Override
    public void release(String poolId, int instance) {
        String key = poolId + "#" + instance;
        held.computeIfPresent(key, (k, n) -> n <= 1 ? null : n - 1);
        try {
            credits.executeOnKey(key, new OwnerUpdate(owner, OwnerUpdate.Change.GIVE));
        } catch (RuntimeException e) {
            LOG.warn("shared credit of {} not given back ({}); its lease frees it", key, e.toString());
        }
    }

    /** Credits taken on one instance by every live dispatcher together (monitoring, tests). */
    public int taken(String poolId, int instance) {
        HashMap<String, long[]> v = credits.get(poolId + "#" + instance);
        if (v == null) {
            return 0;
        }
        long now = System.currentTimeMillis();
        long sum = 0;
        for (long[] c : v.values()) {
            if (now - c[1] <= leaseMs) {
                sum += c[0];
            }
        }
        return (int) sum;
    }

    private void renew() {
        if (held.isEmpty()) {
            return;
        }
        try {
            credits.executeOnKeys(new java.util.HashSet<>(held.keySet()), new OwnerUpdate(owner, OwnerUpdate.Change.RENEW));
        } catch (RuntimeException e) {
            LOG.warn("credit leases not renewed ({}); next try in {} ms", e.toString(), leaseMs / 3);
        }
    }

    @Override
    public void close() {
        renewer.shutdownNow();
    }

    /** Takes one credit for {@code owner} if the live owners' counts sum below {@code max}; drops expired owners. */
    static final class Take implements EntryProcessor<String, HashMap<String, long[]>, Boolean> {
        private static final long serialVersionUID = 1L;
        private final String owner;
        private final int max;
        private final long leaseMs;

        Take(String owner, int max, long leaseMs) {
            this.owner = owner;
            this.max = max;
            this.leaseMs = leaseMs;
        }

        @Override
        public Boolean process(Map.Entry<String, HashMap<String, long[]>> entry) {
            long now = System.currentTimeMillis();
            HashMap<String, long[]> v = entry.getValue() == null ? new HashMap<>() : entry.getValue();
            v.values().removeIf(c -> now - c[1] > leaseMs || c[0] <= 0);
            long sum = 0;
            for (long[] c : v.values()) {
                sum += c[0];
            }
            if (sum >= max) {
                entry.setValue(v);
                return false;
            }
            long[] mine = v.computeIfAbsent(owner, o -> new long[2]);
            mine[0]++;
            mine[1] = now;
            entry.setValue(v);
            return true;
        }
    }

    /**
     * A change to {@code owner}'s counts in one pool instance's entry: give back one credit, or stamp the counts as alive
     * now. Answers false (and changes nothing) when the owner holds none there; an entry left with no owner is removed.
     */
    static final class OwnerUpdate implements EntryProcessor<String, HashMap<String, long[]>, Boolean> {
        private static final long serialVersionUID = 1L;

        enum Change { GIVE, RENEW }

        private final String owner;
        private final Change change;

        OwnerUpdate(String owner, Change change) {
            this.owner = owner;
            this.change = change;
        }

        @Override
        public Boolean process(Map.Entry<String, HashMap<String, long[]>> entry) {
            HashMap<String, long[]> v = entry.getValue();
            if (v == null || !v.containsKey(owner)) {
                return false;
            }
            long[] mine = v.get(owner); // {count, last renewal in epoch ms}
            if (change == Change.RENEW) {
                mine[1] = System.currentTimeMillis();
            } else if (--mine[0] <= 0) {
                v.remove(owner);
            }
            entry.setValue(v.isEmpty() ? null : v);
            return true;
        }
    }
}
