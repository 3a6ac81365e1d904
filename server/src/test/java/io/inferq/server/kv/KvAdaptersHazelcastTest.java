package io.inferq.server.kv;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.dispatcher.kv.IndexPrefixLocator;
import io.inferq.dispatcher.kv.KvPromptAnalyzer;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.HazelcastPrefixIndex;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.kvcache.store.SharedKvTier;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.kv.KvConversations;
import io.inferq.workers.kv.KvPrefixCacheHook;
import io.inferq.workers.kv.PoolKvCache;
import io.inferq.workers.pool.PoolPlan;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The adapters on a real Hazelcast member: one worker's prefill is another worker's hit, and routing sees it. */
class KvAdaptersHazelcastTest {

    @Test
    void aPrefixStoredByOneWorkerIsServedToAnotherAndLocated() throws Exception {
        HazelcastInstance hz = io.inferq.server.TestInferq.loopbackMember("inferq-kv-adapters");
        ExecutorService lookups = Executors.newSingleThreadExecutor();
        try {
            MeterRegistry registry = new SimpleMeterRegistry();
            IMap<String, byte[]> blocks = SharedKvTier.install(hz, "kv-blocks", 10_000, registry);
            HazelcastPrefixIndex index = HazelcastPrefixIndex.create(hz, "kv-index", 100_000);
            PoolPlan plan = KvConversations.plan("h800-lite", "h800");
            PrefixHashing hashing = KvConversations.HASHING;
            KvPrefixCacheHook[] workers = new KvPrefixCacheHook[2];
            for (int w = 0; w < 2; w++) {
                KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder("w" + w, "h800-lite"))
                        .localMaxBytes(8L << 20).sharedMap(blocks).prefixIndex(index).meterRegistry(registry).build();
                workers[w] = new KvPrefixCacheHook(hashing,
                        Map.of("h800-lite", PoolKvCache.forPool(plan, store, hashing, KvConversations.SCALE)), registry);
            }
            List<SequenceWork.Message> conv = KvConversations.conversation(2);
            PrefixHashing.Prompt prompt = hashing.analyze(KvConversations.MODEL, "acme", KvAdaptersTest.template(conv));
            int full = prompt.blockHashes().size() * 64;

            workers[0].stored("h800-lite", "acme", KvConversations.work("j1", conv, prompt.tokenCount(), 0));
            assertThat(workers[1].cachedPrefixTokens("h800-lite", "acme",
                    KvConversations.work("j2", conv, prompt.tokenCount(), 0))).isEqualTo(full);

            IndexPrefixLocator locator = new IndexPrefixLocator(index, lookups, Duration.ofMillis(50), 100, registry);
            new KvPromptAnalyzer(hashing, locator::prefetch).analyze(KvAdaptersTest.request("j3", "acme", conv));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            Map<String, Integer> located = Map.of();
            while (located.isEmpty() && System.nanoTime() < deadline) {
                located = locator.cachedLeadingBlocksByPool(prompt.blockHashes());
                Thread.sleep(5);
            }
            assertThat(located).containsEntry("h800-lite", prompt.blockHashes().size());

            hz.shutdown();       // losing the cluster costs hits, never a job
            KvPrefixCacheHook fresh = new KvPrefixCacheHook(hashing, Map.of("h800-lite", PoolKvCache.forPool(plan,
                    KvBlockStore.builder().holder(new BlockHolder("w9", "h800-lite")).localMaxBytes(1 << 20)
                            .sharedMap(blocks).prefixIndex(index).meterRegistry(registry).build(),
                    hashing, KvConversations.SCALE)), registry);
            SequenceWork again = KvConversations.work("j4", conv, prompt.tokenCount(), 0);
            assertThat(fresh.cachedPrefixTokens("h800-lite", "acme", again)).isZero();
            fresh.stored("h800-lite", "acme", again);
        } finally {
            lookups.shutdownNow();
            hz.shutdown();
        }
    }
}
