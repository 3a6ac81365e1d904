package io.inferq.server;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.kv.IndexPrefixLocator;
import io.inferq.dispatcher.kv.KvPromptAnalyzer;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.HazelcastPrefixIndex;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.kvcache.store.SharedKvTier;
import io.inferq.kvcache.tokens.PromptTokenizer;
import io.inferq.server.config.InferqConfig;
import io.inferq.workers.kv.KvPrefixCacheHook;
import io.inferq.workers.kv.PoolKvCache;
import io.inferq.workers.pool.BackendSpec;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.runtime.PrefixCacheHook;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The KV cache of one process: what the workers' cache hook, the dispatcher's prefix locator and prompt analyser,
 * and the remote tier (Redis protocol) are made of. Without {@code kv-cache.enabled} the roles get the no-op hook,
 * no locator and the estimating analyser. Its threads and servers are closed through the process's close list.
 */
final class KvWiring {
    static final String KV_INDEX_MAP = "inferq.kv.prefix-index";
    static final String KV_BLOCKS_MAP = "inferq.kv.blocks";
    static final int KV_INDEX_ENTRIES_PER_MEMBER = 2_000_000;
    static final int KV_CHUNK_BYTES = 256 * 1024;

    private final InferqConfig config;
    private final List<AutoCloseable> toClose;
    private HazelcastInstance hazelcast;
    private PrometheusMeterRegistry registry;
    private PrefixHashing hashing;
    private io.inferq.kvcache.resp.RespServer remoteKv;
    private PrefixIndex prefixIndex;
    private PrefixCacheHook cacheHook = PrefixCacheHook.NONE;
    private PrefixLocator prefixLocator = PrefixLocator.NONE;
    private PromptAnalyzer promptAnalyzer = PromptAnalyzer.ESTIMATE_ONLY;

    KvWiring(InferqConfig config, List<AutoCloseable> toClose) {
        this.config = config;
        this.toClose = toClose;
    }

    /** Sets up the cache for the pools this process runs, then the remote tier ({@code kv-cache.resp-*}). */
    void start(List<PoolPlan> plans, String processId, Infrastructure infra) {
        hazelcast = infra.hazelcast();
        registry = infra.registry();
        startKvCache(plans, processId);
        remoteKv = io.inferq.server.kv.RemoteKvTierLauncher.start(config, infra.vertx(), hazelcast);   // kv-cache.resp-*
        if (remoteKv != null) {
            toClose.add(remoteKv);
        }
    }

    /**
     * Sets up the KV cache (when {@code kv-cache.enabled}): one tokenizer/hashing for every role, the prefix
     * index and the shared block tier on Hazelcast, and one two-tier block store per pool this process runs.
     */
    private void startKvCache(List<PoolPlan> plans, String processId) {
        InferqConfig.KvCache kv = config.kvCache();
        if (!kv.enabled()) {
            return;
        }
        Map<String, String> salts = new LinkedHashMap<>();
        config.tenants().forEach(t -> {
            if (t.cacheSalt() != null) {
                salts.put(t.id(), t.cacheSalt());
            }
        });
        hashing = new PrefixHashing(PromptTokenizer.o200kBase(), kv.blockTokens(), tenant -> salts.get(tenant));
        prefixIndex = HazelcastPrefixIndex.create(hazelcast, KV_INDEX_MAP, KV_INDEX_ENTRIES_PER_MEMBER);
        if (config.runs(InferqConfig.Role.WORKERS)) {
            int chunks = (int) Math.max(64, Math.min(Integer.MAX_VALUE, kv.sharedTierBytes() / KV_CHUNK_BYTES));
            IMap<String, byte[]> shared = config.hazelcast().embedded()
                    ? SharedKvTier.install(hazelcast, KV_BLOCKS_MAP, chunks, registry)
                    : hazelcast.getMap(KV_BLOCKS_MAP); // external cluster: install the tier member-side (README)
            Map<String, PoolKvCache> pools = new LinkedHashMap<>();
            long localPerPool = kv.localTierBytes() / Math.max(1, plans.size());
            for (PoolPlan plan : plans) {
                KvBlockStore store = KvBlockStore.builder()
                        .holder(new BlockHolder(processId + "/" + plan.spec().id(), plan.spec().id()))
                        .localMaxBytes(localPerPool).chunkBytes(KV_CHUNK_BYTES)
                        .sharedMap(shared).prefixIndex(prefixIndex).meterRegistry(registry).build();
                pools.put(plan.spec().id(), PoolKvCache.forPool(plan, store, hashing,
                        plan.spec().backend() instanceof BackendSpec.Simulated ? kv.simulatedPayloadScaleDown() : 1));
            }
            java.util.concurrent.ThreadPoolExecutor writer = new java.util.concurrent.ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
                    new java.util.concurrent.ArrayBlockingQueue<>(1024), r -> {
                        Thread t = new Thread(r, "kv-block-writer");
                        t.setDaemon(true);
                        return t;
                    }, new java.util.concurrent.ThreadPoolExecutor.AbortPolicy());
            toClose.add(writer::shutdownNow);
            cacheHook = new KvPrefixCacheHook(hashing, pools, registry, writer);
        }
        if (config.runs(InferqConfig.Role.DISPATCHER)) {
            java.util.concurrent.ThreadPoolExecutor lookups = new java.util.concurrent.ThreadPoolExecutor(1, 2, 30, TimeUnit.SECONDS,
                    new java.util.concurrent.ArrayBlockingQueue<>(4096), r -> {
                        Thread t = new Thread(r, "kv-prefix-lookup");
                        t.setDaemon(true);
                        return t;
                    }, new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy()); // a dropped lookup = no routing hint
            toClose.add(lookups::shutdownNow);
            IndexPrefixLocator locator = new IndexPrefixLocator(prefixIndex, lookups, registry);
            prefixLocator = locator;
            promptAnalyzer = new KvPromptAnalyzer(hashing, locator::prefetch);
            io.inferq.dispatcher.kv.EnginePrefixLocator precise = io.inferq.server.kv.EngineEventsLauncher.start(config, hashing,
                    locator, registry, toClose);
            if (precise != null) {   // pools with kv-events-endpoints: precise prefix routing from vLLM KV events
                prefixLocator = precise;
                promptAnalyzer = KvPromptAnalyzer.withTokens(hashing, (hashes, tokens) -> {
                    locator.prefetch(hashes);
                    precise.remember(hashes, tokens);
                });
            }
        }
    }

    PrefixCacheHook cacheHook() {
        return cacheHook;
    }

    PrefixLocator prefixLocator() {
        return prefixLocator;
    }

    PromptAnalyzer promptAnalyzer() {
        return promptAnalyzer;
    }

    /** Port of the remote KV tier (Redis protocol), or -1 when {@code kv-cache.resp-port} is -1. */
    int remoteKvPort() {
        return remoteKv == null ? -1 : remoteKv.port();
    }
}
