package io.inferq.kvcache.index;

import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A single-JVM {@link PrefixIndex}, bounded to {@code maxEntries} block hashes with LRU eviction (a lookup
 * or store touches an entry). For unit tests and trace simulation; it obeys the same contract as
 * {@link HazelcastPrefixIndex}.
 *
 * <p>Thread-safe (one lock); every operation is in-memory and non-blocking apart from that lock.
 */
public final class InMemoryPrefixIndex implements PrefixIndex {

    private final LinkedHashMap<Long, Set<String>> holders;

    /** @param maxEntries maximum number of distinct block hashes remembered, positive */
    public InMemoryPrefixIndex(int maxEntries) {
        if (maxEntries <= 0) {
            throw new IllegalArgumentException("maxEntries must be positive, was " + maxEntries);
        }
        this.holders = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Set<String>> eldest) {
                return size() > maxEntries;
            }
        };
    }

    @Override
    public synchronized void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
        String h = Objects.requireNonNull(holder, "holder must not be null").encode();
        for (Long hash : blockHashes) {
            holders.computeIfAbsent(hash, k -> new HashSet<>(4)).add(h);
        }
    }

    @Override
    public synchronized void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
        String h = Objects.requireNonNull(holder, "holder must not be null").encode();
        for (Long hash : blockHashes) {
            Set<String> set = holders.get(hash);
            if (set != null && set.remove(h) && set.isEmpty()) {
                holders.remove(hash);
            }
        }
    }

    @Override
    public synchronized Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
        PrefixWalk walk = new PrefixWalk();
        for (Long hash : blockHashes) {
            Set<String> set = holders.get(hash);
            if (!walk.next(set == null ? Set.of() : set)) {
                break;
            }
        }
        return walk.result();
    }

    /** Number of block hashes currently indexed. */
    public synchronized int size() {
        return holders.size();
    }
}
