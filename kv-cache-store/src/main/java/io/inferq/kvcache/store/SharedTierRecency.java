package io.inferq.kvcache.store;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared tier's own recency order on one Hazelcast member: an exact LRU over the blocks whose chunk 0
 * this member owns, weighted by chunk count, bounded by {@code maxChunks}. Entry processors running on the
 * member's partition threads {@link #touch} a block when it is stored, read, or reported as a local-tier
 * hit by a worker; when the total passes the bound, the least recently used whole blocks are taken off the
 * order and handed to the deleter on the eviction executor (never on a partition thread: deleting goes
 * through the map again).
 *
 * <p>What it does not see: entries that arrive by partition migration (until first touched) and entries
 * Hazelcast removes itself (backstop eviction, {@code IMap.delete} by someone else). Both only make the
 * accounting conservative for a while: a stale block is still ordered by recency and ages out like any
 * other. The map's own Hazelcast eviction, set well above {@code maxChunks}, stays as a hard ceiling.
 *
 * <p>Thread-safe: one monitor guards the order (every operation under it is O(1) apart from victim
 * selection, which is O(victims)); deletion happens outside it.
 */
final class SharedTierRecency {

    private static final Logger LOG = LoggerFactory.getLogger(SharedTierRecency.class);
    /** Victims deleted per call of the deleter. */
    static final int EVICTION_BATCH = 512;

    private final long maxChunks;
    private final Executor evictionExecutor;
    private final Consumer<List<String>> deleter;     // chunk keys of victims
    private final AtomicBoolean evictionScheduled = new AtomicBoolean();
    private final LinkedHashMap<String, Integer> order = new LinkedHashMap<>(1024, 0.75f, true);
    private long chunks;
    private long evictedBlocks;
    private long evictedChunks;

    /**
     * @param maxChunks        bound on the chunks of the blocks ordered here (&gt; 0)
     * @param evictionExecutor runs the deleter; must not be a Hazelcast partition thread
     * @param deleter          deletes the given chunk keys from the map (failures are logged, not retried)
     */
    SharedTierRecency(long maxChunks, Executor evictionExecutor, Consumer<List<String>> deleter) {
        if (maxChunks <= 0) {
            throw new IllegalArgumentException("maxChunks must be positive, was " + maxChunks);
        }
        this.maxChunks = maxChunks;
        this.evictionExecutor = Objects.requireNonNull(evictionExecutor, "evictionExecutor must not be null");
        this.deleter = Objects.requireNonNull(deleter, "deleter must not be null");
    }

    long maxChunks() {
        return maxChunks;
    }

    /**
     * Marks the block whose chunk 0 has key {@code headKey} (and {@code chunkCount} chunks) as most
     * recently used, adding it if unknown; schedules eviction if the bound is passed.
     */
    void touch(String headKey, int chunkCount) {
        boolean over;
        synchronized (this) {
            Integer previous = order.put(headKey, chunkCount);
            chunks += chunkCount - (previous == null ? 0 : previous);
            over = chunks > maxChunks;
        }
        if (over && evictionScheduled.compareAndSet(false, true)) {
            evictionExecutor.execute(this::evictWhileOver);
        }
    }

    /** Forgets a block (it was deleted by other means). */
    synchronized void forget(String headKey) {
        Integer previous = order.remove(headKey);
        if (previous != null) {
            chunks -= previous;
        }
    }

    /** Runs on the eviction executor: deletes least recently used blocks until the total is within bound. */
    void evictWhileOver() {
        try {
            while (true) {
                List<String> victims = takeVictims();
                if (victims.isEmpty()) {
                    break;
                }
                try {
                    deleter.accept(victims);
                } catch (RuntimeException e) {
                    LOG.warn("shared KV tier eviction of {} chunks failed (they stay until evicted again or "
                            + "Hazelcast's backstop bound removes them): {}", victims.size(), e.toString());
                }
            }
        } finally {
            evictionScheduled.set(false);
        }
        // a touch between the last check and the reset above found evictionScheduled still set
        synchronized (this) {
            if (chunks <= maxChunks) {
                return;
            }
        }
        if (evictionScheduled.compareAndSet(false, true)) {
            evictionExecutor.execute(this::evictWhileOver);
        }
    }

    private synchronized List<String> takeVictims() {
        List<String> chunkKeys = new ArrayList<>();
        int blocks = 0;
        Iterator<Map.Entry<String, Integer>> it = order.entrySet().iterator();
        while (chunks > maxChunks && blocks < EVICTION_BATCH && it.hasNext()) {
            Map.Entry<String, Integer> eldest = it.next();
            it.remove();
            int n = eldest.getValue();
            chunks -= n;
            evictedBlocks++;
            evictedChunks += n;
            blocks++;
            String prefix = eldest.getKey().substring(0, eldest.getKey().length() - 1);   // "<fp>:<hash>:"
            for (int i = 0; i < n; i++) {
                chunkKeys.add(prefix + i);
            }
        }
        return chunkKeys;
    }

    /** Chunks of the blocks currently ordered. */
    synchronized long chunks() {
        return chunks;
    }

    /** Blocks currently ordered. */
    synchronized int blocks() {
        return order.size();
    }

    /** Blocks evicted so far. */
    synchronized long evictedBlocks() {
        return evictedBlocks;
    }

    /** Chunks evicted so far. */
    synchronized long evictedChunks() {
        return evictedChunks;
    }

    /** Whether the block is ordered here (for tests). */
    synchronized boolean contains(String headKey) {
        return order.containsKey(headKey);
    }
}
