package io.inferq.kvcache.events;

import io.inferq.kvcache.hashing.BlockHasher;
import java.time.Instant;
import java.time.Clock;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which KV blocks each engine instance really holds, learned from its KV-cache events, keyed by inferq's own
 * chained XXH3 block hashes over the events' {@code token_ids} ({@link BlockHasher}, the same chain inferq computes
 * over a prompt's tokens): so a prompt's hashes can be looked up without knowing how the engine hashes.
 *
 * <p>The engine's block size must equal the hasher's: a {@code BlockStored} of another block size is ignored and
 * the instance is marked {@link #blockSizeMismatch} (logged once, with the fix). Blocks stored under a LoRA
 * adapter are ignored (inferq does not route adapters). A block whose parent is unknown (missed before the
 * subscription started) cannot be chained and is skipped, as are its descendants in that event.
 *
 * <p>Threading: one writer per instance (its subscriber thread); lookups from any thread, lock-free.
 */
public final class EngineBlockIndex {

    private static final Logger LOG = LoggerFactory.getLogger(EngineBlockIndex.class);
    /** Blocks remembered per instance; past this the instance's map is reset (a real engine holds far fewer). */
    static final int MAX_BLOCKS_PER_INSTANCE = 4_000_000;

    private final BlockHasher hasher;
    private final Clock clock;
    private final Map<String, Instance[]> pools = new ConcurrentHashMap<>();

    /** One engine instance's blocks. */
    static final class Instance {
        final String name;
        /** engine hash → (our hash, media holding it) */
        final ConcurrentHashMap<String, Held> byEngineHash = new ConcurrentHashMap<>();
        /** our hash → how many engine hashes map to it */
        final ConcurrentHashMap<Long, Integer> held = new ConcurrentHashMap<>();
        volatile long lastEventNanos = Long.MIN_VALUE;
        volatile boolean blockSizeMismatch;
        volatile long batches;

        Instance(String name) {
            this.name = name;
        }
    }

    record Held(long ourHash, Set<String> media) {
    }

    /**
     * @param hasher   the chain the prompt side uses for these pools (same seed and block size)
     * @param clock    time source for freshness ({@code Clock.systemUTC()}; a fake in tests)
     */
    public EngineBlockIndex(BlockHasher hasher, Clock clock) {
        this.hasher = Objects.requireNonNull(hasher, "hasher must not be null");
        this.clock = Objects.requireNonNull(clock, "clock must not be null");
    }

    private long nanoTime() {
        Instant i = clock.instant();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    public BlockHasher hasher() {
        return hasher;
    }

    /** Declares a pool of {@code instances} engine instances (idempotent for the same count). */
    public synchronized void registerPool(String poolId, int instances) {
        Instance[] existing = pools.get(poolId);
        if (existing != null && existing.length == instances) {
            return;
        }
        Instance[] a = new Instance[instances];
        for (int i = 0; i < instances; i++) {
            a[i] = new Instance(poolId + "/" + i);
        }
        pools.put(poolId, a);
    }

    private Instance instance(String poolId, int instance) {
        Instance[] a = pools.get(poolId);
        if (a == null || instance < 0 || instance >= a.length) {
            throw new IllegalArgumentException("unknown engine instance " + poolId + "/" + instance);
        }
        return a[instance];
    }

    /** Applies one batch of an instance's events (call from that instance's one writer thread). */
    public void apply(String poolId, int instanceIndex, KvEventBatch batch) {
        Instance in = instance(poolId, instanceIndex);
        for (KvEventBatch.Event e : batch.events()) {
            if (e instanceof KvEventBatch.BlockStored s) {
                stored(in, s);
            } else if (e instanceof KvEventBatch.BlockRemoved r) {
                for (String h : r.blockHashes()) {
                    removed(in, h, r.medium());
                }
            } else if (e instanceof KvEventBatch.AllBlocksCleared) {
                clear(in);
            }
        }
        in.batches++;
        in.lastEventNanos = nanoTime();
    }

    /** Marks an instance as heard from (a message arrived) without changing its blocks. */
    public void heardFrom(String poolId, int instanceIndex) {
        instance(poolId, instanceIndex).lastEventNanos = nanoTime();
    }

    /** Forgets everything an instance holds (after an unrecoverable gap in its events). */
    public void reset(String poolId, int instanceIndex) {
        clear(instance(poolId, instanceIndex));
    }

    private static void clear(Instance in) {
        in.byEngineHash.clear();
        in.held.clear();
    }

    private void stored(Instance in, KvEventBatch.BlockStored s) {
        if (s.lora()) {
            return;
        }
        if (s.blockSize() != hasher.blockSize()) {
            if (!in.blockSizeMismatch) {
                in.blockSizeMismatch = true;
                LOG.error("engine {} publishes KV events for {}-token blocks but inferq hashes {}-token blocks "
                        + "(kv-cache.block-tokens): precise prefix routing is off for it; start vLLM with --block-size {} "
                        + "or set kv-cache.block-tokens to {}", in.name, s.blockSize(), hasher.blockSize(),
                        hasher.blockSize(), s.blockSize());
            }
            return;
        }
        if (s.tokenIds().length < s.blockHashes().size() * s.blockSize()) {
            LOG.debug("engine {}: BlockStored with {} tokens for {} blocks: skipped", in.name, s.tokenIds().length,
                    s.blockHashes().size());
            return;
        }
        long parent;
        boolean root = s.parentBlockHash() == null;
        if (root) {
            parent = 0;
        } else {
            Held p = in.byEngineHash.get(s.parentBlockHash());
            if (p == null) {
                return;   // parent unknown: cannot chain (stored before we subscribed, or removed meanwhile)
            }
            parent = p.ourHash();
        }
        if (in.byEngineHash.size() + s.blockHashes().size() > MAX_BLOCKS_PER_INSTANCE) {
            LOG.warn("engine {}: more than {} blocks indexed; starting over", in.name, MAX_BLOCKS_PER_INSTANCE);
            clear(in);
            return;
        }
        String medium = s.medium() == null ? "GPU" : s.medium();
        for (int b = 0; b < s.blockHashes().size(); b++) {
            long local = hasher.localHash(s.tokenIds(), b * s.blockSize());
            long ours = root && b == 0 ? local : hasher.chain(parent, local);
            parent = ours;
            String engineHash = s.blockHashes().get(b);
            Held prev = in.byEngineHash.get(engineHash);
            if (prev != null) {
                prev.media().add(medium);
                continue;
            }
            Set<String> media = ConcurrentHashMap.newKeySet();
            media.add(medium);
            in.byEngineHash.put(engineHash, new Held(ours, media));
            in.held.merge(ours, 1, Integer::sum);
        }
    }

    private static void removed(Instance in, String engineHash, String medium) {
        Held h = in.byEngineHash.get(engineHash);
        if (h == null) {
            return;
        }
        h.media().remove(medium == null ? "GPU" : medium);
        if (h.media().isEmpty()) {
            in.byEngineHash.remove(engineHash);
            in.held.computeIfPresent(h.ourHash(), (k, n) -> n <= 1 ? null : n - 1);
        }
    }

    /** Whether every instance of {@code poolId} was heard from within {@code maxAgeNanos}. */
    public boolean isFresh(String poolId, long maxAgeNanos) {
        Instance[] a = pools.get(poolId);
        if (a == null) {
            return false;
        }
        long now = nanoTime();
        for (Instance in : a) {
            if (in.lastEventNanos == Long.MIN_VALUE || now - in.lastEventNanos > maxAgeNanos || in.blockSizeMismatch) {
                return false;
            }
        }
        return true;
    }

    /** Leading blocks of {@code ourHashes} each instance of {@code poolId} holds (empty array if the pool is unknown). */
    public int[] leadingBlocksByInstance(String poolId, List<Long> ourHashes) {
        Instance[] a = pools.get(poolId);
        if (a == null) {
            return new int[0];
        }
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            int n = 0;
            while (n < ourHashes.size() && a[i].held.containsKey(ourHashes.get(n))) {
                n++;
            }
            out[i] = n;
        }
        return out;
    }

    /** For each registered pool: the longest leading run any of its instances holds (pools holding none absent). */
    public Map<String, Integer> leadingBlocksByPool(List<Long> ourHashes) {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (String pool : pools.keySet()) {
            int best = 0;
            for (int n : leadingBlocksByInstance(pool, ourHashes)) {
                best = Math.max(best, n);
            }
            if (best > 0) {
                out.put(pool, best);
            }
        }
        return out;
    }

    /** Our hashes an instance holds now (for tests and diagnostics). */
    public Set<Long> blocksOf(String poolId, int instanceIndex) {
        return Set.copyOf(instance(poolId, instanceIndex).held.keySet());
    }

    /** Whether an instance's events carry another block size than the hasher's. */
    public boolean blockSizeMismatch(String poolId, int instanceIndex) {
        return instance(poolId, instanceIndex).blockSizeMismatch;
    }

    /** Registered pools and their instance counts. */
    public Map<String, Integer> pools() {
        Map<String, Integer> out = new HashMap<>();
        pools.forEach((k, v) -> out.put(k, v.length));
        return out;
    }
}
