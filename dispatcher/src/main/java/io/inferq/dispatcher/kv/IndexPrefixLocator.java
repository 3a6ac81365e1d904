package io.inferq.dispatcher.kv;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.kvcache.index.PrefixIndex;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The dispatcher's {@link PrefixLocator} on kv-cache-store's {@link PrefixIndex}
 * ({@code longestPrefixByPool}).
 *
 * <p><b>Never blocks the scheduler thread.</b> The Hazelcast index answers over the network (one batched
 * {@code getAll} per 64 blocks, stopping at the first block no worker holds: usually one round trip,
 * ~1 ms on loopback, but unbounded when a member is slow or leaving). So lookups run on
 * {@code lookupExecutor} and their answers are kept for {@code ttl} in a bounded cache keyed by the prompt's
 * last chained hash and length (a chained hash names its whole prefix). {@link #prefetch} starts a lookup
 * as soon as the hashes are known — {@link KvPromptAnalyzer} calls it at intake, so the answer is normally
 * ready by the time the job leaves its length bucket. {@link #cachedLeadingBlocksByPool} answers from the
 * cache only: a lookup not finished yet (or failed) answers "nothing held" and costs at most a cache hit,
 * as the interface allows.
 *
 * <p>For an index that never blocks (e.g. {@code InMemoryPrefixIndex} in one JVM), {@link #direct} asks it
 * on the calling thread.
 *
 * <p>Thread-safe. Metrics: {@code inferq.kv.locator.lookups{result=ready|pending}}.
 */
public final class IndexPrefixLocator implements PrefixLocator {

    /** Default answer lifetime: routing hints may be this stale. */
    public static final Duration DEFAULT_TTL = Duration.ofSeconds(2);
    /** Default bound on cached answers. */
    public static final int DEFAULT_MAX_ENTRIES = 10_000;

    private final PrefixIndex index;
    private final Executor lookupExecutor;
    private final AsyncCache<Key, Map<String, Integer>> answers;
    private final Counter ready;
    private final Counter pending;

    private record Key(long lastHash, int blocks) {
    }

    /**
     * @param index          the prefix index (may block)
     * @param lookupExecutor runs index lookups; bounded, never an event loop
     * @param ttl            how long an answer is reused
     * @param maxEntries     bound on cached answers
     */
    public IndexPrefixLocator(PrefixIndex index, Executor lookupExecutor, Duration ttl, int maxEntries,
                              MeterRegistry registry) {
        this.index = Objects.requireNonNull(index, "index must not be null");
        this.lookupExecutor = Objects.requireNonNull(lookupExecutor, "lookupExecutor must not be null");
        Objects.requireNonNull(ttl, "ttl must not be null");
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive, was " + ttl);
        }
        if (maxEntries <= 0) {
            throw new IllegalArgumentException("maxEntries must be positive, was " + maxEntries);
        }
        this.answers = Caffeine.newBuilder().maximumSize(maxEntries).expireAfterWrite(ttl)
                .executor(Runnable::run).buildAsync();
        this.ready = Counter.builder("inferq.kv.locator.lookups").tag("result", "ready").register(registry);
        this.pending = Counter.builder("inferq.kv.locator.lookups").tag("result", "pending").register(registry);
    }

    /** With {@link #DEFAULT_TTL} and {@link #DEFAULT_MAX_ENTRIES}. */
    public IndexPrefixLocator(PrefixIndex index, Executor lookupExecutor, MeterRegistry registry) {
        this(index, lookupExecutor, DEFAULT_TTL, DEFAULT_MAX_ENTRIES, registry);
    }

    /** A locator that asks {@code index} on the calling thread: only for an index that never blocks. */
    public static PrefixLocator direct(PrefixIndex index) {
        Objects.requireNonNull(index, "index must not be null");
        return hashes -> hashes.isEmpty() ? Map.of() : index.longestPrefixByPool(hashes);
    }

    /** Starts (or reuses) the lookup of {@code blockHashes} in the background; returns at once. */
    public void prefetch(List<Long> blockHashes) {
        if (!blockHashes.isEmpty()) {
            lookup(blockHashes);
        }
    }

    @Override
    public Map<String, Integer> cachedLeadingBlocksByPool(List<Long> blockHashes) {
        if (blockHashes.isEmpty()) {
            return Map.of();
        }
        CompletableFuture<Map<String, Integer>> f = lookup(blockHashes);
        if (f.isDone() && !f.isCompletedExceptionally()) {
            ready.increment();
            return f.join();
        }
        pending.increment();
        return Map.of();
    }

    private CompletableFuture<Map<String, Integer>> lookup(List<Long> blockHashes) {
        List<Long> hashes = List.copyOf(blockHashes);
        Key key = new Key(hashes.get(hashes.size() - 1), hashes.size());
        return answers.get(key, (k, direct) ->
                CompletableFuture.supplyAsync(() -> Map.copyOf(index.longestPrefixByPool(hashes)), lookupExecutor));
    }
}
