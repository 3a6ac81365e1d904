package io.inferq.kvcache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.kvcache.KvFormat;
import io.inferq.kvcache.TestHazelcast;
import io.inferq.kvcache.hashing.BlockHasher;
import io.inferq.kvcache.hashing.HashSeed;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.inferq.kvcache.FakeClock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class KvBlockStoreTest {

    static final KvFormat HOPPER = new KvFormat("nvidia-hopper", "bf16", "flashmla-paged", 64, "deepseek-v3");
    static final KvFormat ASCEND = new KvFormat("ascend-910b", "bf16", "flashmla-paged", 64, "deepseek-v3");
    static final BlockHolder W1 = new BlockHolder("w1", "hopper");
    static final BlockHolder W2 = new BlockHolder("w2", "hopper");

    final MeterRegistry registry = new SimpleMeterRegistry();
    final InMemoryPrefixIndex index = new InMemoryPrefixIndex(100_000);

    KvBlockStore.Builder base(BlockHolder holder, long localBytes) {
        return KvBlockStore.builder().holder(holder).localMaxBytes(localBytes).meterRegistry(registry)
                .prefixIndex(index).clock(new FakeClock()).executor(Runnable::run);
    }

    static List<Long> hashes(long from, int n) {
        return IntStream.range(0, n).mapToObj(i -> from + i).map(Long::valueOf).toList();
    }

    static List<byte[]> payloads(KvFormat f, List<Long> hashes, int size) {
        return hashes.stream().map(h -> SimulatedKvPayloads.generate(f, h, size)).toList();
    }

    IMap<String, byte[]> newSharedMap(HazelcastInstance hz, int maxChunks) {
        String name = "kv-blocks-" + UUID.randomUUID();
        hz.getConfig().addMapConfig(KvBlockStore.sharedMapConfig(name, maxChunks));
        return hz.getMap(name);
    }

    double count(String name, String tier, String worker) {
        return registry.get(name).tag("tier", tier).tag("worker", worker).counter().count();
    }

    @Test
    void localOnlyStoreServesTheLeadingRun() {
        KvBlockStore store = base(W1, 1 << 20).build();
        List<Long> hs = hashes(1, 5);
        store.storeAll(HOPPER, hs.subList(0, 3), payloads(HOPPER, hs.subList(0, 3), 100));
        PrefixRead read = store.readPrefix(HOPPER, hs);
        assertThat(read.blocks()).isEqualTo(3);
        assertThat(read.localBlocks()).isEqualTo(3);
        assertThat(read.payloads().get(2)).isEqualTo(SimulatedKvPayloads.generate(HOPPER, 3, 100));
        assertThat(store.longestCachedPrefix(HOPPER, hs)).isEqualTo(new CachedPrefix(3, 0));
        assertThat(count("inferq.kv.blocks", "local", "w1")).isEqualTo(3);
        assertThat(count("inferq.kv.blocks", "miss", "w1")).isEqualTo(2);
        assertThat(count("inferq.kv.tokens", "local", "w1")).isEqualTo(3 * 64);
        assertThat(count("inferq.kv.bytes.served", "local", "w1")).isEqualTo(300);
        assertThat(registry.get("inferq.kv.prefill.tokens.saved").counter().count()).isEqualTo(3 * 64);
        assertThat(index.longestPrefixByWorker(hs).get("w1").leadingBlocks()).isEqualTo(3);
        assertThat(store.read(HOPPER, 4)).isEmpty();
    }

    @Test
    void aBatchReadAnswersEveryPromptAsItsOwnReadWould() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore writer = base(W1, 1 << 20).sharedMap(map).build();
        List<Long> shared = hashes(7000, 5);
        List<Long> longPrompt = hashes(20_000, 70);                       // past one shared lookup of 64 blocks
        List<Long> localFirst = hashes(9000, 4);
        writer.storeAll(HOPPER, shared, payloads(HOPPER, shared, 100));
        writer.storeAll(HOPPER, longPrompt.subList(0, 68), payloads(HOPPER, longPrompt.subList(0, 68), 100));
        writer.storeAll(HOPPER, localFirst, payloads(HOPPER, localFirst, 100));
        List<List<Long>> prompts = List.of(
                shared,                                                                // all shared
                List.of(7000L, 7001L, 7002L, 8000L, 7004L),                            // shares 3 blocks with the first, then a miss
                longPrompt,                                                            // 68 of 70 cached, over two lookups
                List.of(),                                                             // no full block
                localFirst,                                                            // 2 local (see reader), then 2 shared
                hashes(30_000, 3));                                                    // nothing cached

        KvBlockStore batchReader = reader(map, "batch", localFirst);
        List<PrefixRead> batch = batchReader.readPrefixes(HOPPER, prompts);

        assertThat(batch).hasSize(prompts.size());
        assertThat(batch).extracting(PrefixRead::blocks).containsExactly(5, 3, 68, 0, 4, 0);
        for (int i = 0; i < prompts.size(); i++) {
            PrefixRead alone = reader(map, "alone-" + i, localFirst).readPrefix(HOPPER, prompts.get(i));
            PrefixRead inBatch = batch.get(i);
            assertThat(inBatch.localBlocks()).as("prompt %d local", i).isEqualTo(alone.localBlocks());
            assertThat(inBatch.sharedBlocks()).as("prompt %d shared", i).isEqualTo(alone.sharedBlocks());
            assertThat(inBatch.sharedBytes()).as("prompt %d bytes", i).isEqualTo(alone.sharedBytes());
            for (int b = 0; b < alone.blocks(); b++) {
                assertThat(inBatch.payloads().get(b)).isEqualTo(alone.payloads().get(b));
            }
        }
        assertThat(batch.get(4).localBlocks()).isEqualTo(2);
        // promoted like single reads: read again, every served block is local
        assertThat(batchReader.readPrefixes(HOPPER, prompts)).extracting(PrefixRead::sharedBlocks).containsOnly(0);
        assertThat(batchReader.readPrefixes(HOPPER, List.of())).isEmpty();
    }

    /** A reader with its own holder whose local tier already has (read, so promoted) the first two blocks of {@code localFirst}. */
    private KvBlockStore reader(IMap<String, byte[]> map, String id, List<Long> localFirst) {
        KvBlockStore r = base(new BlockHolder(id, "hopper"), 1 << 20).sharedMap(map).build();
        assertThat(r.readPrefix(HOPPER, localFirst.subList(0, 2)).sharedBlocks()).isEqualTo(2);
        return r;
    }

    @Test
    void localTierIsBoundedByBytesAndEvictionsReachTheIndex() {
        KvBlockStore store = base(W1, 1000).build();
        List<Long> hs = hashes(100, 30);
        for (int i = 0; i < hs.size(); i++) {
            store.store(HOPPER, hs.get(i), SimulatedKvPayloads.generate(HOPPER, hs.get(i), 100));
        }
        store.cleanUp();
        assertThat(store.localBytes()).isLessThanOrEqualTo(1000);
        double evicted = count("inferq.kv.evictions", "local", "w1");
        assertThat(evicted).isGreaterThanOrEqualTo(20);
        int indexed = 0;
        for (Long h : hs) {
            if (!index.longestPrefixByWorker(List.of(h)).isEmpty()) {
                indexed++;
            }
        }
        assertThat(indexed).isEqualTo(30 - (int) evicted);
    }

    @Test
    void sharedTierChunksPayloadsAndServesOtherWorkers() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore writer = base(W1, 1 << 20).sharedMap(map).chunkBytes(1024).build();
        KvBlockStore reader = base(W2, 1 << 20).sharedMap(map).chunkBytes(1024).build();
        List<Long> hs = hashes(5000, 4);
        writer.storeAll(HOPPER, hs, payloads(HOPPER, hs, 5000));

        assertThat(map.size()).isEqualTo(4 * 5);               // 5000 B + 16 B header in 1 KiB chunks
        assertThat(map.values()).allSatisfy(v -> assertThat(v.length).isLessThanOrEqualTo(1024));

        assertThat(reader.longestCachedPrefix(HOPPER, hs)).isEqualTo(new CachedPrefix(0, 4));
        PrefixRead read = reader.readPrefix(HOPPER, hs);
        assertThat(read.sharedBlocks()).isEqualTo(4);
        assertThat(read.sharedBytes()).isEqualTo(4 * 5000);
        for (int i = 0; i < 4; i++) {
            assertThat(SimulatedKvPayloads.matches(HOPPER, hs.get(i), read.payloads().get(i))).isTrue();
        }
        // promoted: the second read is local, and the index now knows w2 holds the prefix
        assertThat(reader.readPrefix(HOPPER, hs).localBlocks()).isEqualTo(4);
        assertThat(index.longestPrefixByWorker(hs)).containsKeys("w1", "w2");
        assertThat(count("inferq.kv.bytes.served", "shared", "w2")).isEqualTo(4 * 5000);
    }

    @Test
    void aRunMixesTiersAndStopsAtTheFirstMiss() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore w1 = base(W1, 1 << 20).sharedMap(map).build();
        KvBlockStore w2 = base(W2, 1 << 20).sharedMap(map).build();
        List<Long> hs = hashes(9000, 6);
        w1.storeAll(HOPPER, hs.subList(0, 3), payloads(HOPPER, hs.subList(0, 3), 64));
        w2.store(HOPPER, hs.get(1), SimulatedKvPayloads.generate(HOPPER, hs.get(1), 64));
        w1.store(HOPPER, hs.get(4), SimulatedKvPayloads.generate(HOPPER, hs.get(4), 64));  // after a gap
        assertThat(w2.longestCachedPrefix(HOPPER, hs)).isEqualTo(new CachedPrefix(1, 2));
        PrefixRead read = w2.readPrefix(HOPPER, hs);
        assertThat(read.localBlocks()).isEqualTo(1);
        assertThat(read.sharedBlocks()).isEqualTo(2);
    }

    @Test
    void corruptOrIncompleteBlocksAreNeverServed() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore writer = base(W1, 1 << 20).sharedMap(map).chunkBytes(1024).build();
        List<Long> hs = hashes(7000, 3);
        writer.storeAll(HOPPER, hs, payloads(HOPPER, hs, 3000));
        BlockKey k0 = new BlockKey(HOPPER.fingerprint(), hs.get(0));
        byte[] chunk = map.get(k0.chunkKey(1));
        chunk[10] ^= 1;
        map.set(k0.chunkKey(1), chunk);                        // bit flip in block 0
        map.delete(new BlockKey(HOPPER.fingerprint(), hs.get(2)).chunkKey(2));   // block 2 lost a chunk

        KvBlockStore reader = base(W2, 1 << 20).sharedMap(map).chunkBytes(1024).build();
        assertThat(reader.readPrefix(HOPPER, hs).blocks()).isZero();
        assertThat(reader.read(HOPPER, hs.get(1))).hasValueSatisfying(
                p -> assertThat(SimulatedKvPayloads.matches(HOPPER, hs.get(1), p)).isTrue());
        assertThat(reader.read(HOPPER, hs.get(2))).isEmpty();
        assertThat(registry.get("inferq.kv.integrity.failures").tag("worker", "w2").counter().count()).isEqualTo(1);
    }

    @Test
    void bytesOfOneChipFamilyAreNeverServedToAnother() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore hopper = base(W1, 1 << 20).sharedMap(map).build();
        KvBlockStore ascend = base(new BlockHolder("a1", "ascend"), 1 << 20).sharedMap(map).build();
        List<Long> hs = hashes(300, 3);
        hopper.storeAll(HOPPER, hs, payloads(HOPPER, hs, 64));
        assertThat(ascend.readPrefix(ASCEND, hs).blocks()).isZero();
        assertThat(hopper.readPrefix(ASCEND, hs).blocks()).isZero();
        assertThat(ascend.readPrefix(HOPPER, hs).blocks()).isEqualTo(3);
        // the routing hash is format-free: the index sees the prefix regardless of chip family
        assertThat(index.longestPrefixByWorker(hs)).containsKey("w1");
    }

    @Test
    void tenantSaltKeepsPrefixesInvisibleToOtherTenants() {
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 100_000);
        KvBlockStore store = base(W1, 1 << 20).sharedMap(map).build();
        int[] prompt = IntStream.range(0, 64 * 4).toArray();
        List<Long> tenantA = new BlockHasher(HashSeed.derive("deepseek-v3", "tiktoken:o200k_base", "salt-A"), 64).blockHashes(prompt);
        List<Long> tenantB = new BlockHasher(HashSeed.derive("deepseek-v3", "tiktoken:o200k_base", "salt-B"), 64).blockHashes(prompt);
        store.storeAll(HOPPER, tenantA, payloads(HOPPER, tenantA, 64));
        assertThat(store.readPrefix(HOPPER, tenantA).blocks()).isEqualTo(4);
        assertThat(store.readPrefix(HOPPER, tenantB).blocks()).isZero();
        assertThat(store.longestCachedPrefix(HOPPER, tenantB)).isEqualTo(CachedPrefix.NONE);
        assertThat(index.longestPrefixByWorker(tenantB)).isEmpty();
    }

    @Test
    void losingAMemberCostsOnlyHits() {
        HazelcastInstance first = TestHazelcast.member();
        HazelcastInstance second = TestHazelcast.extraMember();
        try {
            assertThat(first.getCluster().getMembers()).hasSize(2);
            awaitPartitionsSpreadTo(first, second);
            String name = "kv-loss-" + UUID.randomUUID();
            first.getConfig().addMapConfig(KvBlockStore.sharedMapConfig(name, 100_000));
            IMap<String, byte[]> onFirst = first.getMap(name);
            KvBlockStore viaSecond = base(W2, 1 << 20).sharedMap(second.<String, byte[]>getMap(name)).build();
            List<Long> hs = hashes(40_000, 200);
            viaSecond.storeAll(HOPPER, hs, payloads(HOPPER, hs, 64));
            assertThat(onFirst.size()).isEqualTo(200);
            var partitions = first.getPartitionService();
            long onLostMember = hs.stream()
                    .filter(h -> partitions.getPartition(new BlockKey(HOPPER.fingerprint(), h).chunkKey(0)).getOwner()
                            .equals(second.getCluster().getLocalMember()))
                    .count();
            assertThat(onLostMember).isPositive();

            second.getLifecycleService().terminate();          // abrupt loss, no migration of its partitions

            KvBlockStore viaFirst = base(W1, 1 << 20).sharedMap(onFirst).build();
            int found = 0;
            for (Long h : hs) {
                if (viaFirst.read(HOPPER, h).isPresent()) {
                    found++;
                }
            }
            assertThat(found).isEqualTo(200 - onLostMember);    // blocks owned by the lost member are gone (no backups)
            viaFirst.readPrefix(HOPPER, hs);                    // no exception
            // the dead member's proxies fail; the store answers with misses and keeps working locally
            assertThat(viaSecond.readPrefix(HOPPER, hashes(90_000, 3)).blocks()).isZero();
            viaSecond.store(HOPPER, 90_000L, SimulatedKvPayloads.generate(HOPPER, 90_000L, 64));
            assertThat(viaSecond.readPrefix(HOPPER, hashes(90_000, 1)).localBlocks()).isEqualTo(1);
            assertThat(registry.get("inferq.kv.shared.errors").tag("worker", "w2").counter().count()).isPositive();
        } finally {
            second.getLifecycleService().terminate();
        }
    }

    /** Waits (bounded, by condition, no fixed sleep) until migrations are done and {@code second} owns partitions. */
    private static void awaitPartitionsSpreadTo(HazelcastInstance first, HazelcastInstance second) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (!(first.getPartitionService().isClusterSafe()
                && first.getPartitionService().getPartitions().stream()
                        .anyMatch(p -> second.getCluster().getLocalMember().equals(p.getOwner())))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("partitions did not migrate to the second member within 30 s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000);
        }
    }

    @Test
    void aShutDownInstanceIsAMissNotAFailure() {
        HazelcastInstance lone = TestHazelcast.standaloneMember();
        IMap<String, byte[]> map = newSharedMap(lone, 1000);
        KvBlockStore store = base(W1, 0).sharedMap(map).build();       // no local tier: everything is shared
        List<Long> hs = hashes(1, 2);
        store.storeAll(HOPPER, hs, payloads(HOPPER, hs, 64));
        assertThat(store.readPrefix(HOPPER, hs).sharedBlocks()).isEqualTo(2);
        lone.shutdown();
        assertThat(store.longestCachedPrefix(HOPPER, hs)).isEqualTo(CachedPrefix.NONE);
        assertThat(store.readPrefix(HOPPER, hs).blocks()).isZero();
        store.storeAll(HOPPER, hs, payloads(HOPPER, hs, 64));
        assertThat(registry.get("inferq.kv.shared.errors").tag("worker", "w1").counter().count()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void sharedMapIsBoundedByEntryCount() {
        var cfg = KvBlockStore.sharedMapConfig("m", 1234);
        assertThat(cfg.getEvictionConfig().getSize()).isEqualTo(1234);
        assertThat(cfg.getBackupCount()).isZero();
        IMap<String, byte[]> map = newSharedMap(TestHazelcast.member(), 310);
        KvBlockStore store = base(W1, 0).sharedMap(map).build();
        List<Long> all = new ArrayList<>();
        for (int batch = 0; batch < 20; batch++) {
            List<Long> hs = hashes(100_000 + batch * 100L, 100);
            store.storeAll(HOPPER, hs, payloads(HOPPER, hs, 32));
            all.addAll(hs);
        }
        assertThat(map.size()).isLessThanOrEqualTo(2 * 310).isPositive();
    }

    @Test
    void builderValidates() {
        assertThatThrownBy(() -> KvBlockStore.builder().chunkBytes(1 << 20)).hasMessageContaining("chunkBytes must be in");
        assertThatThrownBy(() -> KvBlockStore.builder().localMaxBytes(-1)).hasMessageContaining("localMaxBytes must not be negative");
        assertThatThrownBy(() -> KvBlockStore.builder().localMaxBytes(1).meterRegistry(registry).build())
                .hasMessageContaining("holder is required");
        assertThatThrownBy(() -> base(W1, 10).build().storeAll(HOPPER, List.of(1L), List.of()))
                .hasMessageContaining("same size");
    }
}
