package io.inferq.kvcache.store;

import com.hazelcast.cluster.Member;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.core.LifecycleEvent;
import com.hazelcast.core.ReadOnly;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Member-side set-up of the shared KV tier with <b>its own exact LRU</b> instead of Hazelcast's sampled,
 * per-partition eviction.
 *
 * <p>Why: Hazelcast bounds a map per partition ({@code PER_NODE} size × members / partitions) and evicts
 * by sampling a partition, and a worker's local-tier hit never reaches the shared copy, so the blocks
 * every worker uses most look idle to Hazelcast and are evicted first. On the Mooncake conversation trace
 * that cost a fifth of the achievable hits. Here each member keeps a {@link SharedTierRecency}: an exact
 * LRU over the blocks whose chunk 0 it owns, bounded by chunk count for the whole member (not per
 * partition), refreshed by stores, reads, and batched "touches" that workers send for their local-tier
 * hits ({@link KvBlockStore.Builder#touchBatching}). It evicts whole blocks (all chunks), never single
 * chunks. Hazelcast's own LRU stays configured at {@value #BACKSTOP_FACTOR}× the budget as a hard ceiling
 * for what the recency order cannot see (migrated-in partitions not yet touched).
 *
 * <p><b>Deployment:</b> call {@link #install} on <em>every</em> member (the embedded member of each inferq
 * process; for an external cluster, put this module on the members' class path and call it from a
 * member-side start hook). Workers then use {@link #map}. A member that was not set up still serves and
 * stores blocks; only the Hazelcast backstop bounds it. Losing a member loses its blocks and its order:
 * hits, never jobs (no backups: a cache).
 *
 * <p>Thread-safe. The order is kept on partition threads under one short monitor per member; deletions
 * run on one daemon thread per (member, map), stopped when the member shuts down.
 */
public final class SharedKvTier {

    /** Hazelcast's own bound, as a multiple of the recency budget. */
    public static final int BACKSTOP_FACTOR = 2;
    /**
     * ... and at least this many chunks per partition above the budget: Hazelcast enforces its bound per
     * partition ({@code size × members / partitions}), so a small budget would otherwise let it evict at random.
     */
    public static final int BACKSTOP_MIN_PER_PARTITION = 32;
    private static final String CONTEXT_PREFIX = "inferq.kv.shared-tier-recency:";

    private SharedKvTier() {
    }

    /**
     * Map configuration for a recency-managed shared tier: no backups, and Hazelcast LRU at
     * {@code max(BACKSTOP_FACTOR × maxChunksPerMember, maxChunksPerMember + BACKSTOP_MIN_PER_PARTITION ×
     * partitionCount)} per member (a ceiling, not the working bound).
     */
    public static MapConfig mapConfig(String mapName, int maxChunksPerMember, int partitionCount) {
        if (maxChunksPerMember <= 0) {
            throw new IllegalArgumentException("maxChunksPerMember must be positive, was " + maxChunksPerMember);
        }
        if (partitionCount <= 0) {
            throw new IllegalArgumentException("partitionCount must be positive, was " + partitionCount);
        }
        long size = Math.max((long) BACKSTOP_FACTOR * maxChunksPerMember,
                maxChunksPerMember + (long) BACKSTOP_MIN_PER_PARTITION * partitionCount);
        int backstop = (int) Math.min(Integer.MAX_VALUE, size);
        return new MapConfig(mapName)
                .setBackupCount(0)
                .setEvictionConfig(new EvictionConfig()
                        .setMaxSizePolicy(MaxSizePolicy.PER_NODE)
                        .setSize(backstop)
                        .setEvictionPolicy(EvictionPolicy.LRU));
    }

    /**
     * Sets up the shared tier on {@code member}: adds {@link #mapConfig} (with the member's partition count) to its dynamic configuration,
     * starts the member's recency order (at most {@code maxChunksPerMember} chunks of blocks whose chunk 0
     * the member owns) and its eviction thread, and registers metrics
     * ({@code inferq.kv.evictions{tier=shared}} in blocks, {@code inferq.kv.shared.chunks} gauge, tagged
     * {@code member}). Idempotent per (member, map name). Blocking (cluster-wide config change).
     *
     * @return the map workers pass to {@link KvBlockStore.Builder#sharedMap}
     * @throws IllegalStateException    if the map was already installed on this member with another budget
     * @throws IllegalArgumentException if {@code member} is a client
     */
    public static IMap<String, byte[]> install(HazelcastInstance member, String mapName, int maxChunksPerMember,
                                               MeterRegistry registry) {
        Objects.requireNonNull(member, "member must not be null");
        Objects.requireNonNull(registry, "registry must not be null");
        if (!(member.getLocalEndpoint() instanceof Member)) {
            throw new IllegalArgumentException("install runs on a Hazelcast member, not a client: the recency order "
                    + "lives on the members that own the data (install it member-side; clients just use the map)");
        }
        MapConfig config = mapConfig(mapName, maxChunksPerMember, member.getPartitionService().getPartitions().size());
        String key = CONTEXT_PREFIX + mapName;
        Object existing = member.getUserContext().get(key);
        if (existing instanceof SharedTierRecency r) {
            if (r.maxChunks() != maxChunksPerMember) {
                throw new IllegalStateException("shared tier " + mapName + " already installed with maxChunksPerMember "
                        + r.maxChunks());
            }
            return member.getMap(mapName);
        }
        member.getConfig().addMapConfig(config);
        IMap<String, byte[]> map = member.getMap(mapName);
        String memberName = member.getName();
        ExecutorService evictor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "inferq-kv-shared-evictor-" + memberName + "-" + mapName);
            t.setDaemon(true);
            return t;
        });
        SharedTierRecency recency = new SharedTierRecency(maxChunksPerMember, evictor,
                chunkKeys -> deleteAll(map, chunkKeys));
        if (member.getUserContext().putIfAbsent(key, recency) != null) {
            evictor.shutdown();
            return install(member, mapName, maxChunksPerMember, registry);
        }
        member.getLifecycleService().addLifecycleListener(e -> {
            if (e.getState() == LifecycleEvent.LifecycleState.SHUTTING_DOWN) {
                evictor.shutdownNow();
            }
        });
        FunctionCounter.builder("inferq.kv.evictions", recency, SharedTierRecency::evictedBlocks)
                .tag("tier", "shared").tag("member", memberName).tag("map", mapName).register(registry);
        Gauge.builder("inferq.kv.shared.chunks", recency, SharedTierRecency::chunks)
                .tag("member", memberName).tag("map", mapName).register(registry);
        return map;
    }

    /** Test hook: the recency order installed on {@code member} for {@code mapName}, or null. */
    static SharedTierRecency recencyOf(HazelcastInstance member, String mapName) {
        return (SharedTierRecency) member.getUserContext().get(CONTEXT_PREFIX + mapName);
    }

    /** Waits (bounded) until the member's pending evictions ran; for tests and experiments. */
    static void awaitEvictions(HazelcastInstance member, String mapName, long timeoutMillis) {
        SharedTierRecency r = recencyOf(member, mapName);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (r != null && r.chunks() > r.maxChunks() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    /** Chunk count from the header of chunk 0, or 0 if it is not one. */
    static int chunkCount(byte[] head) {
        if (head == null || head.length < SharedChunkTier.HEADER_BYTES) {
            return 0;
        }
        int n = ByteBuffer.wrap(head).getInt(4);
        return Math.max(n, 0);
    }

    /**
     * Base of the entry processors that refresh the member's order: resolves the order from the member's
     * user context (Hazelcast injects the member into processors that are {@link HazelcastInstanceAware}).
     */
    abstract static class RecencyProcessor<R> implements EntryProcessor<String, byte[], R>, HazelcastInstanceAware {
        final String mapName;
        private transient SharedTierRecency recency;

        RecencyProcessor(String mapName) {
            this.mapName = mapName;
        }

        @Override
        public void setHazelcastInstance(HazelcastInstance hz) {
            Object r = hz.getUserContext().get(CONTEXT_PREFIX + mapName);
            this.recency = r instanceof SharedTierRecency s ? s : null;
        }

        final void touch(Map.Entry<String, byte[]> entry) {
            int chunks = chunkCount(entry.getValue());
            if (recency != null && chunks > 0) {
                recency.touch(entry.getKey(), chunks);
            }
        }

        @Override
        public EntryProcessor<String, byte[], R> getBackupProcessor() {
            return null;
        }
    }

    /** Marks a block (by its chunk 0) most recently used; answers whether it is there. */
    static final class TouchBlock extends RecencyProcessor<Boolean> implements ReadOnly {
        TouchBlock(String mapName) {
            super(mapName);
        }

        @Override
        public Boolean process(Map.Entry<String, byte[]> entry) {
            touch(entry);
            return entry.getValue() != null ? Boolean.TRUE : null;
        }
    }

    /**
     * Deletes chunks: entry-processor calls of {@value SharedChunkTier#KEYS_PER_CALL} keys each (a call's cost
     * grows with keys × partitions), all in flight at once, then waits for them.
     */
    private static void deleteAll(IMap<String, byte[]> map, List<String> chunkKeys) {
        List<CompletableFuture<?>> calls = new ArrayList<>();
        for (int from = 0; from < chunkKeys.size(); from += SharedChunkTier.KEYS_PER_CALL) {
            Set<String> slice = new HashSet<>(chunkKeys.subList(from,
                    Math.min(chunkKeys.size(), from + SharedChunkTier.KEYS_PER_CALL)));
            calls.add(map.submitToKeys(slice, new DeleteChunk()).toCompletableFuture());
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).join();
    }

    /** Deletes a chunk (eviction). */
    static final class DeleteChunk implements EntryProcessor<String, byte[], Void> {
        @Override
        public Void process(Map.Entry<String, byte[]> entry) {
            if (entry.getValue() != null) {
                entry.setValue(null);
            }
            return null;
        }
    }

}
