package io.inferq.kvcache.resp;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * This process's copy of recently written or read values, in front of Hazelcast: least recently used first out,
 * bounded by value bytes. A plain LRU on purpose: the remote tier's clients (LMCache) read back what they wrote
 * moments ago, and every entry is large (an 18 MB chunk pair) while the bound holds only a dozen or so of them.
 * Caffeine's W-TinyLFU admission, right for small hot keys, rejects such a fresh entry in favour of an older one
 * that was read more often (its admission window is 1% of the bound, smaller than one value), so a value was
 * dropped from the local copy the moment it was written: 3% of LMCache-pattern reads were served locally.
 *
 * <p>Thread-safe (one lock; every operation is O(1) apart from the evictions it causes).
 *
 * @param <V> the cached value
 */
final class LocalValueCache<V> {

    /** Bytes of a value. */
    interface Weigher<V> {
        long bytes(V value);
    }

    private final long maxBytes;
    private final Weigher<V> weigher;
    private final LinkedHashMap<String, V> entries = new LinkedHashMap<>(16, 0.75f, true);   // guarded by this
    private long bytes;                                                                    // guarded by this

    LocalValueCache(long maxBytes, Weigher<V> weigher) {
        this.maxBytes = Math.max(0, maxBytes);
        this.weigher = weigher;
    }

    /** Whether the cache keeps anything at all (a bound of 0 keeps nothing). */
    boolean enabled() {
        return maxBytes > 0;
    }

    synchronized V get(String key) {
        return entries.get(key);
    }

    /** Stores (replacing), then evicts the least recently used entries beyond the bound; a value above the bound is not kept. */
    synchronized void put(String key, V value) {
        long w = weigher.bytes(value);
        V old = entries.remove(key);
        if (old != null) {
            bytes -= weigher.bytes(old);
        }
        if (w > maxBytes) {
            return;
        }
        entries.put(key, value);
        bytes += w;
        Iterator<Map.Entry<String, V>> it = entries.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Map.Entry<String, V> eldest = it.next();
            bytes -= weigher.bytes(eldest.getValue());
            it.remove();
        }
    }

    synchronized void invalidate(String key) {
        V old = entries.remove(key);
        if (old != null) {
            bytes -= weigher.bytes(old);
        }
    }

    synchronized long bytes() {
        return bytes;
    }

    synchronized int size() {
        return entries.size();
    }
}
