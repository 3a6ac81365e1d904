package io.inferq.kvcache.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Ticker;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.map.IMap;
import io.inferq.kvcache.KvFormat;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.index.PrefixMatch;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Two-tier store of KV blocks, keyed by ({@link KvFormat#fingerprint()}, chained block hash):
 * <ol>
 *   <li>a <b>local tier</b> per worker — a Caffeine cache bounded by payload bytes
 *       ({@code maximumWeight}); what it holds is reported to the {@link PrefixIndex} (store, promotion
 *       and eviction), so routing knows which worker has which prefix;</li>
 *   <li>an optional <b>shared tier</b> — a Hazelcast {@link IMap} of payload chunks (no value larger than
 *       the chunk size, so none becomes a G1 humongous object), bounded per member by an exact LRU over
 *       whole blocks that the members keep themselves ({@link SharedKvTier#install}; or, for a map set up
 *       with {@link #sharedMapConfig} only, Hazelcast's sampled per-partition LRU over single chunks).</li>
 * </ol>
 * Writes go to both tiers (write-through). Reads take the local tier first, then fetch the rest of the
 * run from the shared tier, verify each block's checksum, and promote it into the local tier.
 *
 * <p><b>Shared recency:</b> a block a worker serves from its local tier is still in use fleet-wide, so the
 * store reports local-tier hits to the shared tier as "touches" that refresh the block's place in the
 * member's LRU order. Touches are batched ({@link Builder#touchBatching}): queued (bounded; beyond the
 * bound they are dropped and counted in {@code inferq.kv.shared.touches.dropped}) and sent as one
 * asynchronous {@code submitToKeys} when the batch is full or the oldest is older than the maximum delay
 * (checked on every store call: no timer thread), with at most one batch in flight.
 *
 * <p><b>Threading:</b> thread-safe. Methods that touch the shared tier or the Hazelcast prefix index
 * block on the network: call them from a worker thread, never from an event loop. The local tier's
 * removal listener (eviction → prefix index) runs on the injected executor.
 *
 * <p><b>Failures:</b> the store never fails a job. Any exception from the shared tier (member lost,
 * instance shut down, timeout) is logged, counted ({@code inferq.kv.shared.errors}) and treated as a
 * miss; a block whose chunks are incomplete or whose checksum does not match is a miss
 * ({@code inferq.kv.integrity.failures}) and is never served.
 *
 * <p><b>Metrics</b> (tags {@code tier=local|shared|miss} where applicable): {@code inferq.kv.blocks} and
 * {@code inferq.kv.tokens} per lookup of {@link #readPrefix}, {@code inferq.kv.bytes.served},
 * {@code inferq.kv.evictions} (local tier), {@code inferq.kv.prefill.tokens.saved},
 * {@code inferq.kv.local.bytes} (gauge), {@code inferq.kv.shared.touches.dropped}. Shared-tier evictions are
 * counted by the members ({@link SharedKvTier}: {@code inferq.kv.evictions{tier=shared}}).
 */
public final class KvBlockStore {

    /** Default maximum bytes of one Hazelcast value: a quarter of the smallest G1 region (1 MiB). */
    public static final int DEFAULT_CHUNK_BYTES = 256 * 1024;
    /** Upper bound on the chunk size: stays well under half of the smallest G1 region. */
    public static final int MAX_CHUNK_BYTES = 384 * 1024;
    static final int MIN_CHUNK_BYTES = 64;
    /** Lookups probe the shared tier in batches this big. */
    private static final int SHARED_BATCH = 64;
    /** Default number of local-tier hits sent to the shared tier in one touch batch. */
    public static final int DEFAULT_TOUCH_BATCH = 64;
    /** Default longest time a local-tier hit waits before its touch is sent. */
    public static final Duration DEFAULT_TOUCH_MAX_DELAY = Duration.ofSeconds(1);
    /** Pending touches are bounded at this many batches; more are dropped (a touch is a hint). */
    static final int MAX_PENDING_TOUCH_BATCHES = 8;

    private static final Logger LOG = LoggerFactory.getLogger(KvBlockStore.class);

    private final BlockHolder holder;
    private final PrefixIndex index;
    private final Cache<BlockKey, byte[]> local;
    private final SharedChunkTier shared;      // null: local-only

    private final Counter localBlocks;
    private final Counter sharedBlocks;
    private final Counter missBlocks;
    private final Counter localTokens;
    private final Counter sharedTokens;
    private final Counter missTokens;
    private final Counter localBytes;
    private final Counter sharedBytes;
    private final Counter evictions;
    private final Counter prefillSaved;
    private final Counter sharedErrors;
    private final Counter integrityFailures;
    private final Counter touchesDropped;

    private final Ticker ticker;
    private final int touchBatch;
    private final long touchMaxDelayNanos;
    private final Object touchLock = new Object();
    private final LinkedHashSet<BlockKey> pendingTouches = new LinkedHashSet<>();   // guarded by touchLock
    private long oldestPendingTouch;                                                // guarded by touchLock
    private boolean touchInFlight;                                                  // guarded by touchLock

    private KvBlockStore(Builder b) {
        this.holder = b.holder;
        this.index = b.index;
        this.shared = b.sharedMap == null ? null : new SharedChunkTier(b.sharedMap, b.chunkBytes);
        MeterRegistry r = b.registry;
        String w = holder.workerId();
        this.localBlocks = counter(r, "inferq.kv.blocks", "local", w);
        this.sharedBlocks = counter(r, "inferq.kv.blocks", "shared", w);
        this.missBlocks = counter(r, "inferq.kv.blocks", "miss", w);
        this.localTokens = counter(r, "inferq.kv.tokens", "local", w);
        this.sharedTokens = counter(r, "inferq.kv.tokens", "shared", w);
        this.missTokens = counter(r, "inferq.kv.tokens", "miss", w);
        this.localBytes = counter(r, "inferq.kv.bytes.served", "local", w);
        this.sharedBytes = counter(r, "inferq.kv.bytes.served", "shared", w);
        this.evictions = counter(r, "inferq.kv.evictions", "local", w);
        this.prefillSaved = Counter.builder("inferq.kv.prefill.tokens.saved").tag("worker", w).register(r);
        this.sharedErrors = Counter.builder("inferq.kv.shared.errors").tag("worker", w).register(r);
        this.integrityFailures = Counter.builder("inferq.kv.integrity.failures").tag("worker", w).register(r);
        this.touchesDropped = Counter.builder("inferq.kv.shared.touches.dropped").tag("worker", w).register(r);
        this.ticker = tickerOf(b.clock);
        this.touchBatch = b.touchBatch;
        this.touchMaxDelayNanos = b.touchMaxDelay.toNanos();
        this.local = Caffeine.newBuilder()
                .maximumWeight(b.localMaxBytes)
                .<BlockKey, byte[]>weigher((k, v) -> v.length)
                .ticker(this.ticker)
                .executor(b.executor)
                .removalListener((BlockKey k, byte[] v, RemovalCause cause) -> onLocalRemoval(k, cause))
                .build();
        Gauge.builder("inferq.kv.local.bytes", local, c -> c.policy().eviction()
                        .map(e -> (double) e.weightedSize().orElse(0L)).orElse(0.0))
                .tag("worker", w)
                .register(r);
    }

    private static Counter counter(MeterRegistry r, String name, String tier, String worker) {
        return Counter.builder(name).tag("tier", tier).tag("worker", worker).register(r);
    }

    /**
     * The adapter Caffeine needs: its {@link Ticker} read from {@code clock} (nanoseconds on the clock's time line);
     * the system clock maps to Caffeine's own monotonic system ticker.
     */
    static Ticker tickerOf(Clock clock) {
        if (clock.equals(Clock.systemUTC())) {
            return Ticker.systemTicker();
        }
        return () -> {
            java.time.Instant i = clock.instant();
            return i.getEpochSecond() * 1_000_000_000L + i.getNano();
        };
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Configuration for a shared tier bounded by Hazelcast alone (prefer {@link SharedKvTier#install},
     * which keeps an exact LRU over whole blocks per member and counts local-tier hits): at most {@code maxChunksPerMember} chunks per member
     * ({@link MaxSizePolicy#PER_NODE}, enforced per partition as {@code max × members / partitions}, so
     * approximate), LRU eviction, <b>no backups</b> (a cache: losing a member costs hits, and a backup
     * would halve the capacity). Multiply by the chunk size for the memory bound.
     */
    public static MapConfig sharedMapConfig(String mapName, int maxChunksPerMember) {
        if (maxChunksPerMember <= 0) {
            throw new IllegalArgumentException("maxChunksPerMember must be positive, was " + maxChunksPerMember);
        }
        return new MapConfig(mapName)
                .setBackupCount(0)
                .setEvictionConfig(new EvictionConfig()
                        .setMaxSizePolicy(MaxSizePolicy.PER_NODE)
                        .setSize(maxChunksPerMember)
                        .setEvictionPolicy(EvictionPolicy.LRU));
    }

    /**
     * The leading run of {@code blockHashes} the store has (local tier, then shared), without reading any
     * payload and without metrics. A probe for estimates: the answer can be stale by the time
     * {@link #readPrefix} runs. Blocking if a shared tier is configured.
     */
    public CachedPrefix longestCachedPrefix(KvFormat format, List<Long> blockHashes) {
        long fp = format.fingerprint();
        int localRun = 0;
        int sharedRun = 0;
        for (int from = 0; from < blockHashes.size(); from += SHARED_BATCH) {
            List<BlockKey> keys = keys(fp, blockHashes, from, Math.min(blockHashes.size(), from + SHARED_BATCH));
            List<BlockKey> notLocal = new ArrayList<>();
            for (BlockKey k : keys) {
                if (!local.asMap().containsKey(k)) {
                    notLocal.add(k);
                }
            }
            Set<BlockKey> inShared = notLocal.isEmpty() ? Set.of() : sharedPresent(notLocal);
            for (BlockKey k : keys) {
                if (local.asMap().containsKey(k)) {
                    localRun++;
                } else if (inShared.contains(k)) {
                    sharedRun++;
                } else {
                    return new CachedPrefix(localRun, sharedRun);
                }
            }
        }
        return new CachedPrefix(localRun, sharedRun);
    }

    /**
     * Reads the payloads of the longest leading run of {@code blockHashes}: local tier first, the rest
     * from the shared tier (verified, then promoted into the local tier and reported to the index).
     * Records the hit/miss metrics of this lookup, assuming the caller prefills only the blocks after the
     * run. Blocking if a shared tier is configured.
     */
    public PrefixRead readPrefix(KvFormat format, List<Long> blockHashes) {
        return readPrefixes(format, List.of(blockHashes)).get(0);
    }

    /**
     * {@link #readPrefix} of several prompts at once (a worker's batch): the first {@value #SHARED_BATCH}
     * blocks of every prompt are looked up in the shared tier with one presence check and one read for all
     * prompts together (blocks that prompts share are fetched once); a prompt whose leading run goes past
     * that continues on its own. Each answer, its verification, promotion and metrics are exactly those of
     * {@link #readPrefix} of that prompt alone. Blocking if a shared tier is configured.
     *
     * @return one read per prompt, in order
     */
    public List<PrefixRead> readPrefixes(KvFormat format, List<List<Long>> prompts) {
        long fp = format.fingerprint();
        List<Chunk> firsts = new ArrayList<>(prompts.size());
        Set<BlockKey> notLocal = new java.util.LinkedHashSet<>();
        for (List<Long> hashes : prompts) {
            Chunk first = chunk(fp, hashes, 0);
            notLocal.addAll(first.notLocal());
            firsts.add(first);
        }
        Set<BlockKey> present = sharedPresent(new ArrayList<>(notLocal));
        Set<BlockKey> runs = new java.util.LinkedHashSet<>();
        for (Chunk first : firsts) {
            runs.addAll(first.leadingRun(present));
        }
        Map<BlockKey, byte[]> fetched = sharedRead(new ArrayList<>(runs));
        List<PrefixRead> out = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            List<Long> hashes = prompts.get(i);
            PrefixScan scan = new PrefixScan(hashes.size());
            boolean whole = scan.take(firsts.get(i), fetched);
            for (int from = SHARED_BATCH; whole && from < hashes.size(); from += SHARED_BATCH) {
                Chunk next = chunk(fp, hashes, from);
                List<BlockKey> nextNotLocal = next.notLocal();
                Map<BlockKey, byte[]> nextFetched = nextNotLocal.isEmpty() ? Map.of()
                        : sharedRead(next.leadingRun(sharedPresent(nextNotLocal)));
                whole = scan.take(next, nextFetched);
            }
            out.add(finish(format, scan));
        }
        return out;
    }

    /** The keys of {@code hashes} from {@code from}, at most {@value #SHARED_BATCH}, with their local-tier hits. */
    private Chunk chunk(long fp, List<Long> hashes, int from) {
        List<BlockKey> keys = keys(fp, hashes, from, Math.min(hashes.size(), from + SHARED_BATCH));
        byte[][] found = new byte[keys.size()][];
        for (int i = 0; i < keys.size(); i++) {
            found[i] = local.getIfPresent(keys.get(i));
        }
        return new Chunk(keys, found);
    }

    /** Promotes what one prompt's scan read from the shared tier, records its metrics and touches. */
    private PrefixRead finish(KvFormat format, PrefixScan scan) {
        if (!scan.promoted.isEmpty()) {
            // index first, then the local tier (see storeAll)
            List<Long> promotedHashes = new ArrayList<>(scan.promoted.size());
            scan.promoted.keySet().forEach(k -> promotedHashes.add(k.blockHash()));
            index.recordStored(holder, promotedHashes);
            local.putAll(scan.promoted);
        }
        int tokensPerBlock = format.blockSize();
        int misses = scan.blocks - scan.payloads.size();
        localBlocks.increment(scan.fromLocal);
        sharedBlocks.increment(scan.fromShared);
        missBlocks.increment(misses);
        localTokens.increment((double) scan.fromLocal * tokensPerBlock);
        sharedTokens.increment((double) scan.fromShared * tokensPerBlock);
        missTokens.increment((double) misses * tokensPerBlock);
        localBytes.increment(scan.bytesLocal);
        sharedBytes.increment(scan.bytesShared);
        prefillSaved.increment((double) scan.payloads.size() * tokensPerBlock);
        touch(scan.localHits);
        return new PrefixRead(scan.payloads, scan.fromLocal, scan.fromShared, scan.bytesShared);
    }

    /** Up to {@value #SHARED_BATCH} consecutive keys of one prompt and what the local tier had of each (or null). */
    private record Chunk(List<BlockKey> keys, byte[][] found) {
        List<BlockKey> notLocal() {
            List<BlockKey> out = new ArrayList<>();
            for (int i = 0; i < keys.size(); i++) {
                if (found[i] == null) {
                    out.add(keys.get(i));
                }
            }
            return out;
        }

        /** The keys to read from the shared tier: not local, up to the first one it does not hold. */
        List<BlockKey> leadingRun(Set<BlockKey> present) {
            List<BlockKey> run = new ArrayList<>();
            for (int i = 0; i < keys.size(); i++) {
                if (found[i] == null) {
                    if (!present.contains(keys.get(i))) {
                        break;
                    }
                    run.add(keys.get(i));
                }
            }
            return run;
        }
    }

    /** What one prompt's leading-run read has served so far, chunk by chunk. Confined to the reading thread. */
    private static final class PrefixScan {
        final int blocks;
        final List<byte[]> payloads = new ArrayList<>();
        final Map<BlockKey, byte[]> promoted = new LinkedHashMap<>();
        final List<BlockKey> localHits = new ArrayList<>();
        int fromLocal;
        int fromShared;
        long bytesLocal;
        long bytesShared;

        PrefixScan(int blocks) {
            this.blocks = blocks;
        }

        /** Takes {@code chunk}'s blocks up to the first miss; @return whether there was none. */
        boolean take(Chunk chunk, Map<BlockKey, byte[]> fetched) {
            for (int i = 0; i < chunk.keys().size(); i++) {
                BlockKey key = chunk.keys().get(i);
                byte[] hit = chunk.found()[i];
                if (hit != null) {
                    payloads.add(hit);
                    fromLocal++;
                    bytesLocal += hit.length;
                    localHits.add(key);
                } else {
                    byte[] p = fetched.get(key);
                    if (p == null) {
                        return false;
                    }
                    promoted.put(key, p);
                    payloads.add(p);
                    fromShared++;
                    bytesShared += p.length;
                }
            }
            return true;
        }
    }

    /** Reads one block (local, then shared); empty on a miss. No hit/miss metrics. Blocking. */
    public Optional<byte[]> read(KvFormat format, long blockHash) {
        BlockKey key = new BlockKey(format.fingerprint(), blockHash);
        byte[] p = local.getIfPresent(key);
        if (p != null) {
            touch(List.of(key));
            return Optional.of(p);
        }
        p = sharedRead(List.of(key)).get(key);
        if (p != null) {
            index.recordStored(holder, List.of(blockHash));
            local.put(key, p);
        }
        return Optional.ofNullable(p);
    }

    /** Stores one block; see {@link #storeAll}. */
    public void store(KvFormat format, long blockHash, byte[] payload) {
        storeAll(format, List.of(blockHash), List.of(payload));
    }

    /**
     * Stores blocks in the local tier and (if configured) the shared tier, and reports them to the index.
     * The store keeps the arrays: callers must not modify them afterwards. A shared-tier failure is
     * logged and counted; the local copy is kept. Blocking if a shared tier is configured.
     *
     * @throws IllegalArgumentException if the lists differ in size or a payload is null
     */
    public void storeAll(KvFormat format, List<Long> blockHashes, List<byte[]> payloads) {
        if (blockHashes.size() != payloads.size()) {
            throw new IllegalArgumentException("blockHashes and payloads must have the same size, were "
                    + blockHashes.size() + " and " + payloads.size());
        }
        if (blockHashes.isEmpty()) {
            return;
        }
        long fp = format.fingerprint();
        Map<BlockKey, byte[]> blocks = new LinkedHashMap<>();
        for (int i = 0; i < blockHashes.size(); i++) {
            byte[] p = payloads.get(i);
            if (p == null) {
                throw new IllegalArgumentException("payload " + i + " must not be null");
            }
            blocks.put(new BlockKey(fp, blockHashes.get(i)), p);
        }
        if (shared != null) {
            try {
                shared.putAll(blocks);
            } catch (RuntimeException e) {
                sharedFailure("store", e);
            }
            touch(List.of());
        }
        // index first: an admission that evicts a new block at once then reaches the index after it
        index.recordStored(holder, blockHashes);
        local.putAll(blocks);
    }

    /**
     * Sends the queued local-tier touches now and waits for them and for the recency registration of the last
     * store (at most until {@code timeout}); for tests, experiments and shutdown. Failures are counted as
     * shared-tier errors. Blocking.
     */
    public void flushTouches(Duration timeout) {
        if (shared == null) {
            return;
        }
        shared.awaitRegistration();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<BlockKey> batch;
            synchronized (touchLock) {
                while (touchInFlight && System.nanoTime() < deadline) {
                    try {
                        touchLock.wait(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                if (touchInFlight || pendingTouches.isEmpty()) {
                    return;
                }
                batch = takeTouchBatch();
            }
            sendTouches(batch);
        }
    }

    /** Queues local-tier hits as touches of the shared copy; sends a batch if one is due. */
    private void touch(List<BlockKey> keys) {
        if (shared == null) {
            return;
        }
        List<BlockKey> batch;
        synchronized (touchLock) {
            long now = ticker.read();
            for (BlockKey k : keys) {
                if (pendingTouches.size() >= MAX_PENDING_TOUCH_BATCHES * touchBatch) {
                    touchesDropped.increment();
                } else {
                    if (pendingTouches.isEmpty()) {
                        oldestPendingTouch = now;
                    }
                    pendingTouches.remove(k);          // re-inserted last: the most recent order
                    pendingTouches.add(k);
                }
            }
            boolean due = pendingTouches.size() >= touchBatch
                    || (!pendingTouches.isEmpty() && now - oldestPendingTouch >= touchMaxDelayNanos);
            if (!due || touchInFlight) {
                return;
            }
            batch = takeTouchBatch();
        }
        sendTouches(batch);
    }

    /** Caller holds touchLock. */
    private List<BlockKey> takeTouchBatch() {
        List<BlockKey> batch = new ArrayList<>(pendingTouches);
        pendingTouches.clear();
        touchInFlight = true;
        return batch;
    }

    private void sendTouches(List<BlockKey> batch) {
        try {
            shared.touchAsync(batch).whenComplete((r, e) -> {
                if (e != null) {
                    sharedErrors.increment();
                    LOG.debug("shared KV tier touch of {} blocks failed: {}", batch.size(), e.toString());
                }
                touchDone();
            });
        } catch (RuntimeException e) {
            touchDone();
            sharedFailure("touch", e);
        }
    }

    private void touchDone() {
        synchronized (touchLock) {
            touchInFlight = false;
            touchLock.notifyAll();
        }
    }

    /** Approximate bytes held by the local tier (pending maintenance may lag). */
    public long localBytes() {
        return local.policy().eviction().map(e -> e.weightedSize().orElse(0L)).orElse(0L);
    }

    /** Runs pending local-tier maintenance (evictions and their listeners). For tests and shutdown. */
    public void cleanUp() {
        local.cleanUp();
    }

    /** The worker this store belongs to. */
    public BlockHolder holder() {
        return holder;
    }

    private static List<BlockKey> keys(long fp, List<Long> hashes, int from, int to) {
        List<BlockKey> keys = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            keys.add(new BlockKey(fp, hashes.get(i)));
        }
        return keys;
    }

    /** Non-local keys of the batch up to the first block the shared tier does not have (probe first). */
    private Set<BlockKey> sharedPresent(List<BlockKey> keys) {
        if (shared == null || keys.isEmpty()) {
            return Set.of();
        }
        try {
            return shared.present(keys);
        } catch (RuntimeException e) {
            sharedFailure("lookup", e);
            return Set.of();
        }
    }

    private Map<BlockKey, byte[]> sharedRead(List<BlockKey> keys) {
        if (shared == null || keys.isEmpty()) {
            return Map.of();
        }
        try {
            List<BlockKey> corrupt = new ArrayList<>();
            Map<BlockKey, byte[]> out = shared.getAll(keys, corrupt);
            if (!corrupt.isEmpty()) {
                integrityFailures.increment(corrupt.size());
                LOG.warn("{} shared KV blocks failed their checksum and were not served", corrupt.size());
            }
            return out;
        } catch (RuntimeException e) {
            sharedFailure("read", e);
            return Map.of();
        }
    }

    private void sharedFailure(String what, RuntimeException e) {
        sharedErrors.increment();
        LOG.warn("shared KV tier {} failed, treating as a miss: {}", what, e.toString());
    }

    private void onLocalRemoval(BlockKey key, RemovalCause cause) {
        if (cause.wasEvicted()) {
            evictions.increment();
            index.recordEvicted(holder, List.of(key.blockHash()));
        } else if (cause == RemovalCause.EXPLICIT) {
            index.recordEvicted(holder, List.of(key.blockHash()));
        }
    }

    /** Builder; every setter validates its argument. Not thread-safe. */
    public static final class Builder {
        private BlockHolder holder;
        private long localMaxBytes = -1;
        private int chunkBytes = DEFAULT_CHUNK_BYTES;
        private IMap<String, byte[]> sharedMap;
        private PrefixIndex index = NoPrefixIndex.INSTANCE;
        private MeterRegistry registry;
        private Clock clock = Clock.systemUTC();
        private Executor executor = Runnable::run;
        private int touchBatch = DEFAULT_TOUCH_BATCH;
        private Duration touchMaxDelay = DEFAULT_TOUCH_MAX_DELAY;

        private Builder() {
        }

        /** The worker (and pool) this store belongs to. Required. */
        public Builder holder(BlockHolder holder) {
            this.holder = Objects.requireNonNull(holder, "holder must not be null");
            return this;
        }

        /** Byte bound of the local tier (sum of payload lengths). Required, must not be negative. */
        public Builder localMaxBytes(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("localMaxBytes must not be negative, was " + bytes);
            }
            this.localMaxBytes = bytes;
            return this;
        }

        /** Maximum bytes of one shared-tier value; default {@value #DEFAULT_CHUNK_BYTES}. */
        public Builder chunkBytes(int bytes) {
            if (bytes < MIN_CHUNK_BYTES || bytes > MAX_CHUNK_BYTES) {
                throw new IllegalArgumentException("chunkBytes must be in [" + MIN_CHUNK_BYTES + ", "
                        + MAX_CHUNK_BYTES + "] (well under half a G1 region), was " + bytes);
            }
            this.chunkBytes = bytes;
            return this;
        }

        /**
         * The shared tier's map, configured with {@link #sharedMapConfig} on every member. Optional:
         * without it the store is local-only.
         */
        public Builder sharedMap(IMap<String, byte[]> map) {
            this.sharedMap = Objects.requireNonNull(map, "sharedMap must not be null");
            return this;
        }

        /** The index told about local-tier contents. Optional (default: none). */
        public Builder prefixIndex(PrefixIndex index) {
            this.index = Objects.requireNonNull(index, "prefixIndex must not be null");
            return this;
        }

        /** Where metrics go. Required. */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "meterRegistry must not be null");
            return this;
        }

        /**
         * How local-tier hits refresh the shared tier's recency: sent in batches of up to {@code batch}
         * blocks, each hit waiting at most {@code maxDelay} (measured with {@link #clock}; checked when the
         * store is next used). Defaults {@value #DEFAULT_TOUCH_BATCH} and 1 s. {@code batch = 1} sends every
         * hit at once (still asynchronously).
         */
        public Builder touchBatching(int batch, Duration maxDelay) {
            if (batch <= 0) {
                throw new IllegalArgumentException("touch batch must be positive, was " + batch);
            }
            Objects.requireNonNull(maxDelay, "maxDelay must not be null");
            if (maxDelay.isNegative()) {
                throw new IllegalArgumentException("maxDelay must not be negative, was " + maxDelay);
            }
            this.touchBatch = batch;
            this.touchMaxDelay = maxDelay;
            return this;
        }

        /** The time source of the local tier and of touch batching (a fake one in tests). Default: the system clock. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock must not be null");
            return this;
        }

        /**
         * Runs the local tier's maintenance and removal listener (which updates the prefix index, blocking
         * if it is Hazelcast's). Default: the calling thread. Never Caffeine's default common pool.
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor must not be null");
            return this;
        }

        /** @throws IllegalStateException if a required setting is missing */
        public KvBlockStore build() {
            if (holder == null) {
                throw new IllegalStateException("holder is required");
            }
            if (localMaxBytes < 0) {
                throw new IllegalStateException("localMaxBytes is required");
            }
            if (registry == null) {
                throw new IllegalStateException("meterRegistry is required");
            }
            return new KvBlockStore(this);
        }
    }

    /** The default index: remembers nothing. */
    private enum NoPrefixIndex implements PrefixIndex {
        INSTANCE;

        @Override
        public void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
        }

        @Override
        public void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
        }

        @Override
        public Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
            return Map.of();
        }
    }
}
