package io.inferq.workers.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static io.inferq.workers.kv.KvConversations.HASHING;
import static io.inferq.workers.kv.KvConversations.MODEL;
import static io.inferq.workers.kv.KvConversations.MODELS;
import static io.inferq.workers.kv.KvConversations.SALTS;
import static io.inferq.workers.kv.KvConversations.SCALE;
import static io.inferq.workers.kv.KvConversations.conversation;
import static io.inferq.workers.kv.KvConversations.longText;
import static io.inferq.workers.kv.KvConversations.plan;
import static io.inferq.workers.kv.KvConversations.work;

import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.index.PrefixMatch;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.kvcache.tokens.PromptTokenizer;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.WeightPrecision;
import io.inferq.workers.pool.PoolLimits;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.pool.PoolSpec;
import io.inferq.workers.runtime.PrefixCacheHook;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The workers' KV cache hook on kv-cache-store's block store and an in-memory prefix index. */
class KvPrefixCacheHookTest {

    final MeterRegistry registry = new SimpleMeterRegistry();
    final InMemoryPrefixIndex index = new InMemoryPrefixIndex(100_000);

    PoolKvCache pool(PoolPlan plan, String worker) {
        KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder(worker, plan.spec().id()))
                .localMaxBytes(64L << 20).prefixIndex(index).meterRegistry(registry).build();
        return PoolKvCache.forPool(plan, store, HASHING, SCALE);
    }

    @Test
    void hookHitsWhatItStoredAndCountsRealTokens() {
        PoolPlan h800 = plan("h800-lite", "h800");
        KvPrefixCacheHook hook = new KvPrefixCacheHook(HASHING, Map.of("h800-lite", pool(h800, "w1")), registry);
        List<SequenceWork.Message> conv = conversation(2);
        int real = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(conv)).tokenCount();
        int fullBlocks = real / 64;
        assertThat(fullBlocks).isGreaterThan(5);

        SequenceWork first = work("j1", conv, real, 0);
        assertThat(hook.cachedPrefixTokens("h800-lite", "acme", first)).isZero();
        hook.stored("h800-lite", "acme", first);

        assertThat(hook.cachedPrefixTokens("h800-lite", "acme", work("j2", conv, real, 0))).isEqualTo(fullBlocks * 64);
        // the next turn extends the conversation: the old full blocks are its cached prefix
        List<SequenceWork.Message> next = new ArrayList<>(conv);
        next.add(new SequenceWork.Message("user", longText(999, 100)));
        int nextReal = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(next)).tokenCount();
        assertThat(hook.cachedPrefixTokens("h800-lite", "acme", work("j3", next, nextReal, 0)))
                .isGreaterThanOrEqualTo((fullBlocks - 1) * 64).isLessThanOrEqualTo(fullBlocks * 64);
        // capped at the (estimated) prompt length the worker was given
        assertThat(hook.cachedPrefixTokens("h800-lite", "acme", work("j4", conv, 100, 0))).isEqualTo(100);
        // the index tells routing that this worker of this pool holds the prefix
        List<Long> hashes = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(conv)).blockHashes();
        assertThat(index.longestPrefixByPool(hashes)).containsEntry("h800-lite", fullBlocks);
    }

    @Test
    void storedWritesOnlyTheBlocksAfterTheCachedPrefix() {
        PoolPlan h800 = plan("p", "h800");
        List<Collection<Long>> stores = new ArrayList<>();
        PrefixIndex recording = new PrefixIndex() {
            @Override
            public void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
                stores.add(List.copyOf(blockHashes));
                index.recordStored(holder, blockHashes);
            }

            @Override
            public void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
                index.recordEvicted(holder, blockHashes);
            }

            @Override
            public Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
                return index.longestPrefixByWorker(blockHashes);
            }
        };
        KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder("w", "p")).localMaxBytes(64L << 20)
                .prefixIndex(recording).meterRegistry(registry).build();
        KvPrefixCacheHook hook = new KvPrefixCacheHook(HASHING, Map.of("p", PoolKvCache.forPool(h800, store, HASHING, SCALE)),
                registry);
        List<SequenceWork.Message> conv = conversation(1);
        int real = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(conv)).tokenCount();
        hook.stored("p", "acme", work("a", conv, real, 3 * 64));
        assertThat(stores).hasSize(1);
        assertThat(stores.get(0)).hasSize(real / 64 - 3);
    }

    @Test
    void tenantsAndChipFamiliesNeverShare() {
        PoolPlan h800 = plan("nv", "h800");
        PoolPlan ascend = plan("asc", "ascend-910b");
        PoolKvCache nv = pool(h800, "w1");
        // the same process-level store serving two pools would still key bytes by format; here two stores
        KvPrefixCacheHook hook = new KvPrefixCacheHook(HASHING, Map.of("nv", nv, "asc", pool(ascend, "w2")), registry);
        List<SequenceWork.Message> conv = conversation(1);
        int real = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(conv)).tokenCount();
        hook.stored("nv", "acme", work("a", conv, real, 0));
        assertThat(hook.cachedPrefixTokens("nv", "acme", work("b", conv, real, 0))).isPositive();
        assertThat(hook.cachedPrefixTokens("nv", "globex", work("c", conv, real, 0))).isZero();
        assertThat(hook.cachedPrefixTokens("nv", "no-salt-tenant", work("d", conv, real, 0))).isZero();
        assertThat(hook.cachedPrefixTokens("asc", "acme", work("e", conv, real, 0))).isZero();
        assertThat(hook.cachedPrefixTokens("unknown-pool", "acme", work("f", conv, real, 0))).isZero();
        // a batch's lookup answers each sequence as its own lookup does
        assertThat(hook.cachedPrefixTokens("nv", List.of("acme", "globex", "acme", "no-salt-tenant"),
                List.of(work("g", conv, real, 0), work("h", conv, real, 0), work("i", conv, 100, 0), work("k", conv, real, 0))))
                .containsExactly(hook.cachedPrefixTokens("nv", "acme", work("b2", conv, real, 0)), 0, 100, 0);
        assertThat(hook.cachedPrefixTokens("unknown-pool", List.of("acme"), List.of(work("m", conv, real, 0)))).containsExactly(0);
        assertThatThrownBy(() -> hook.cachedPrefixTokens("nv", List.of("acme"), List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one tenant per sequence");
        assertThat(nv.format().chipFamily()).isEqualTo("nvidia");
        assertThat(nv.format().dtype()).isEqualTo("bf16");
        assertThat(PoolKvCache.geometry(MODELS.get("deepseek-v3"), WeightPrecision.FP8).bytesPerToken()).isEqualTo(35_136);
        assertThat(PoolKvCache.geometry(MODELS.get("deepseek-v3"), WeightPrecision.BF16).valuesPerTokenPerLayer()).isEqualTo(576);
        assertThat(PoolKvCache.forPool(h800, nv.store(), HASHING).payloadBytesPerBlock()).isEqualTo(31_104 * 64);
    }

    @Test
    void hookFailuresAreMisses() {
        PoolPlan h800 = plan("p", "h800");
        PrefixIndex broken = new PrefixIndex() {
            @Override
            public void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
                throw new IllegalStateException("index down");
            }

            @Override
            public void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
                throw new IllegalStateException("index down");
            }

            @Override
            public Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
                throw new IllegalStateException("index down");
            }
        };
        KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder("w", "p")).localMaxBytes(1 << 20)
                .prefixIndex(broken).meterRegistry(registry).build();
        KvPrefixCacheHook hook = new KvPrefixCacheHook(HASHING, Map.of("p", PoolKvCache.forPool(h800, store, HASHING, SCALE)),
                registry);
        List<SequenceWork.Message> conv = conversation(1);
        hook.stored("p", "acme", work("a", conv, 500, 0));
        assertThat(hook.cachedPrefixTokens("p", "acme", work("b", conv, 500, 0))).isZero();
        // an odd role is lower-cased; one the template cannot take is a miss, not an exception
        assertThat(hook.cachedPrefixTokens("p", "acme",
                work("c", List.of(new SequenceWork.Message("user turn!", "hi")), 5, 0))).isZero();
        assertThat(registry.get("inferq.kv.hook.errors").counter().count()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void hashesCarriedInTheBatchAreUsedWithoutTokenisingAgain() {
        AtomicInteger encodes = new AtomicInteger();
        PromptTokenizer counting = new PromptTokenizer() {
            @Override
            public String name() {
                return PromptTokenizer.o200kBase().name();
            }

            @Override
            public int[] encode(String text) {
                encodes.incrementAndGet();
                return PromptTokenizer.o200kBase().encode(text);
            }
        };
        PrefixHashing hashing = new PrefixHashing(counting, 64, SALTS::get);
        PoolPlan h800 = plan("p", "h800");
        KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder("w", "p")).localMaxBytes(64L << 20)
                .prefixIndex(index).meterRegistry(registry).build();
        KvPrefixCacheHook hook = new KvPrefixCacheHook(hashing, Map.of("p", PoolKvCache.forPool(h800, store, hashing, SCALE)),
                registry);
        List<SequenceWork.Message> conv = conversation(1);
        // what the dispatcher computed at intake (another PrefixHashing instance with the same settings)
        PrefixHashing.Prompt atIntake = HASHING.analyze(MODEL, "acme", KvPrefixCacheHook.fromWork(conv));
        int real = atIntake.tokenCount();
        PrefixCacheHook.CarriedBlockHashes carried = new PrefixCacheHook.CarriedBlockHashes(64, List.of(atIntake.blockHashes()));

        assertThat(hook.cachedPrefixTokens("p", List.of("acme"), List.of(work("a", conv, real, 0)), carried)).containsExactly(0);
        hook.stored("p", "acme", work("a", conv, real, 0));
        assertThat(hook.cachedPrefixTokens("p", List.of("acme"), List.of(work("b", conv, real, 0)), carried))
                .containsExactly(real / 64 * 64);
        assertThat(encodes).as("no prompt was tokenised on the worker").hasValue(0);

        // the same answer when the worker hashes for itself, or when the hashes were made with another block size
        assertThat(hook.cachedPrefixTokens("p", List.of("acme"), List.of(work("c", conv, real, 0)))).containsExactly(real / 64 * 64);
        assertThat(hook.cachedPrefixTokens("p", List.of("acme"), List.of(work("d", conv, real, 0)),
                new PrefixCacheHook.CarriedBlockHashes(32, List.of(List.of(1L, 2L))))).containsExactly(real / 64 * 64);
        assertThat(encodes.get()).isPositive();
    }
}
