package io.inferq.kvcache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.kvcache.KvFormat;
import io.inferq.kvcache.TestHazelcast;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.kvcache.FakeClock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The shared tier's own LRU on a real member, and local-tier hits refreshing it through batched touches. */
class SharedKvTierTest {

    static final KvFormat F = KvBlockStoreTest.HOPPER;
    final MeterRegistry registry = new SimpleMeterRegistry();
    final InMemoryPrefixIndex index = new InMemoryPrefixIndex(100_000);
    final FakeClock ticker = new FakeClock();
    final HazelcastInstance hz = TestHazelcast.member();
    final String mapName = "kv-recency-" + UUID.randomUUID();

    KvBlockStore store(String worker, long localBytes, IMap<String, byte[]> map) {
        return KvBlockStore.builder().holder(new BlockHolder(worker, "pool")).localMaxBytes(localBytes)
                .meterRegistry(registry).prefixIndex(index).clock(ticker).executor(Runnable::run)
                .sharedMap(map).touchBatching(100, Duration.ofSeconds(1)).build();
    }

    /** Stores and waits until the shared tier's order has the blocks (registration is asynchronous). */
    static void put(KvBlockStore s, List<Long> hashes) {
        s.storeAll(F, hashes, KvBlockStoreTest.payloads(F, hashes, 64));
        s.flushTouches(Duration.ofSeconds(10));
    }

    boolean inShared(IMap<String, byte[]> map, long hash) {
        return map.containsKey(new BlockKey(F.fingerprint(), hash).chunkKey(0));
    }

    void awaitEvictions() {
        SharedKvTier.awaitEvictions(hz, mapName, 10_000);
        // the last deletion round may still be in flight after the count dropped
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        SharedTierRecency r = SharedKvTier.recencyOf(hz, mapName);
        IMap<String, byte[]> map = hz.getMap(mapName);
        while (map.size() > r.chunks() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    @Test
    void localHitsKeepABlockInTheSharedTierOnceTheirTouchIsDue() {
        IMap<String, byte[]> map = SharedKvTier.install(hz, mapName, 6, registry);
        KvBlockStore w1 = store("w1", 1 << 20, map);
        KvBlockStore w2 = store("w2", 0, map);               // no local tier: every access is shared
        List<Long> hot = KvBlockStoreTest.hashes(1, 3);
        List<Long> cold = KvBlockStoreTest.hashes(100, 3);
        put(w1, hot);
        put(w2, cold);                                        // 6 chunks: at the bound, hot is the eldest
        assertThat(w1.readPrefix(F, hot).localBlocks()).isEqualTo(3);   // local hits: touches queued
        ticker.nanos.addAndGet(TimeUnit.SECONDS.toNanos(2));
        w1.readPrefix(F, List.of());                          // next use after the delay sends the batch
        w1.flushTouches(Duration.ofSeconds(10));
        put(w2, KvBlockStoreTest.hashes(200, 3));             // 9 > 6: the 3 least recently used go
        awaitEvictions();
        assertThat(hot).allMatch(h -> inShared(map, h));
        assertThat(cold).noneMatch(h -> inShared(map, h));
        assertThat(map.size()).isEqualTo(6);
        assertThat(registry.get("inferq.kv.evictions").tag("tier", "shared").functionCounter().count()).isEqualTo(3);
        // the survivors are still served whole to a worker without them
        assertThat(store("w3", 0, map).readPrefix(F, hot).sharedBlocks()).isEqualTo(3);
    }

    @Test
    void touchesWaitForTheirBatchSoAnIdleSharedCopyIsEvictedFirst() {
        IMap<String, byte[]> map = SharedKvTier.install(hz, mapName, 6, registry);
        KvBlockStore w1 = store("w1", 1 << 20, map);
        KvBlockStore w2 = store("w2", 0, map);
        List<Long> hot = KvBlockStoreTest.hashes(1, 3);
        put(w1, hot);
        put(w2, KvBlockStoreTest.hashes(100, 3));
        w1.readPrefix(F, hot);                                // touches queued, batch neither full nor due
        ticker.nanos.addAndGet(TimeUnit.MILLISECONDS.toNanos(500));
        w1.readPrefix(F, List.of());
        put(w2, KvBlockStoreTest.hashes(200, 3));
        awaitEvictions();
        assertThat(hot).noneMatch(h -> inShared(map, h));    // the shared tier never heard of the local hits
        assertThat(w1.readPrefix(F, hot).localBlocks()).isEqualTo(3);   // still in w1's own tier
    }

    @Test
    void multiChunkBlocksAreEvictedWhole() {
        IMap<String, byte[]> map = SharedKvTier.install(hz, mapName, 10, registry);
        KvBlockStore w = KvBlockStore.builder().holder(new BlockHolder("w", "pool")).localMaxBytes(0)
                .meterRegistry(registry).clock(ticker).sharedMap(map).chunkBytes(1024).build();
        List<Long> first = KvBlockStoreTest.hashes(1, 2);
        w.storeAll(F, first, KvBlockStoreTest.payloads(F, first, 4000));       // 4 chunks each: 8
        w.flushTouches(Duration.ofSeconds(10));
        w.readPrefix(F, first.subList(1, 2));                                   // block 1 read: block 0 is eldest
        List<Long> next = KvBlockStoreTest.hashes(50, 1);
        w.storeAll(F, next, KvBlockStoreTest.payloads(F, next, 4000));          // 12 > 10: one whole block goes
        w.flushTouches(Duration.ofSeconds(10));
        awaitEvictions();
        assertThat(map.size()).isEqualTo(8);
        assertThat(map.keySet()).noneMatch(k -> k.contains(":" + Long.toHexString(first.get(0)) + ":"));
        assertThat(w.readPrefix(F, next).sharedBlocks()).isEqualTo(1);
    }

    @Test
    void installIsIdempotentAndConfigIsBounded() {
        IMap<String, byte[]> map = SharedKvTier.install(hz, mapName, 6, registry);
        assertThat(SharedKvTier.install(hz, mapName, 6, registry).getName()).isEqualTo(map.getName());
        assertThatThrownBy(() -> SharedKvTier.install(hz, mapName, 7, registry)).isInstanceOf(IllegalStateException.class);
        var cfg = SharedKvTier.mapConfig("m", 100_000, 271);
        assertThat(cfg.getBackupCount()).isZero();
        assertThat(cfg.getEvictionConfig().getSize()).isEqualTo(SharedKvTier.BACKSTOP_FACTOR * 100_000);
        assertThat(SharedKvTier.mapConfig("m", 10, 271).getEvictionConfig().getSize()).isEqualTo(10 + 32 * 271);
        assertThatThrownBy(() -> KvBlockStore.builder().touchBatching(0, Duration.ZERO)).hasMessageContaining("touch batch");
    }
}
