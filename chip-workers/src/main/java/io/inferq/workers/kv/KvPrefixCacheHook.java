package io.inferq.workers.kv;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.store.PrefixRead;
import io.inferq.kvcache.store.SimulatedKvPayloads;
import io.inferq.kvcache.tokens.ChatMessage;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.runtime.PrefixCacheHook;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workers' {@link PrefixCacheHook} on kv-cache-store, one per process: it knows each pool this process
 * runs ({@link PoolKvCache}: the pool's store, whose holder is this process's worker id and the pool, and the
 * pool's KV format).
 *
 * <ul>
 *   <li>{@link #cachedPrefixTokens}: tokenises the conversation ({@link PrefixHashing}, tenant-salted seed),
 *       reads the longest cached prefix ({@code KvBlockStore.readPrefix}: local tier, then shared, verified,
 *       promoted, reported to the prefix index) and answers {@code blocks × blockSize}, capped at the real
 *       prompt length and at {@code work.promptTokens()} (which may be the intake's estimate).</li>
 *   <li>{@link #cachedPrefixTokens(String, List, List)}: the same for a whole batch, with one shared-tier
 *       lookup for all of its prompts.</li>
 *   <li>{@link #stored}: stores the prompt's full blocks after the ones that were already cached
 *       ({@code work.cachedPrefixTokens()}), with the simulated backend's deterministic bytes
 *       ({@link SimulatedKvPayloads}) of the pool's block size.</li>
 * </ul>
 * The tokens and hashes of a job are kept between the two calls (a small bounded cache by pool and job id),
 * so a prompt is tokenised once per run.
 *
 * <p>Runs on the slot thread (blocks on Hazelcast when the pool's store has a shared tier). Never throws:
 * any failure is logged, counted ({@code inferq.kv.hook.errors}) and answered as a miss.
 */
public final class KvPrefixCacheHook implements PrefixCacheHook {

    private static final Logger LOG = LoggerFactory.getLogger(KvPrefixCacheHook.class);

    private final PrefixHashing hashing;
    private final Map<String, PoolKvCache> pools;
    private final Cache<String, PrefixHashing.Prompt> recent;
    private final Counter errors;
    private final Counter skippedStores;
    private final java.util.concurrent.Executor storeExecutor;

    /**
     * Stores on the calling (slot) thread.
     *
     * @param hashing  the shared tokenisation and hashing (same instance settings as the dispatcher's)
     * @param pools    poolId → that pool's cache in this process; pools absent here never hit
     * @param registry where {@code inferq.kv.hook.errors} goes
     */
    public KvPrefixCacheHook(PrefixHashing hashing, Map<String, PoolKvCache> pools, MeterRegistry registry) {
        this(hashing, pools, registry, Runnable::run);
    }

    /**
     * @param storeExecutor runs the writes of new blocks off the batch's critical path (the result does not
     *                      wait for the cache); should be bounded: a rejected store is skipped and counted
     *                      in {@code inferq.kv.hook.stores.skipped}
     */
    public KvPrefixCacheHook(PrefixHashing hashing, Map<String, PoolKvCache> pools, MeterRegistry registry,
            java.util.concurrent.Executor storeExecutor) {
        this.storeExecutor = Objects.requireNonNull(storeExecutor, "storeExecutor must not be null");
        this.skippedStores = Counter.builder("inferq.kv.hook.stores.skipped").register(registry);
        this.hashing = Objects.requireNonNull(hashing, "hashing must not be null");
        this.pools = Map.copyOf(pools);
        for (PoolKvCache p : this.pools.values()) {
            if (p.format().blockSize() != hashing.blockSize()) {
                throw new IllegalArgumentException("pool format block size " + p.format().blockSize()
                        + " differs from the hashing's " + hashing.blockSize());
            }
        }
        this.recent = Caffeine.newBuilder().maximumSize(4096).expireAfterWrite(Duration.ofMinutes(10))
                .executor(Runnable::run).build();
        this.errors = Counter.builder("inferq.kv.hook.errors").register(registry);
    }

    @Override
    public int cachedPrefixTokens(String poolId, String tenant, SequenceWork work) {
        return cachedPrefixTokens(poolId, List.of(tenant), List.of(work))[0];
    }

    /**
     * The batch form: every sequence's prompt (tokenised once, as above), then one
     * {@code KvBlockStore.readPrefixes} for all of them (one shared-tier lookup and one read for the batch
     * instead of one per sequence). A failure answers a miss for every sequence of the batch.
     */
    @Override
    public int[] cachedPrefixTokens(String poolId, List<String> tenants, List<SequenceWork> works) {
        PrefixCacheHook.requireOneTenantPerSequence(tenants, works);
        int[] out = new int[works.size()];
        PoolKvCache pool = pools.get(poolId);
        if (pool == null || works.isEmpty()) {
            return out;
        }
        try {
            List<PrefixHashing.Prompt> prompts = new ArrayList<>(works.size());
            List<List<Long>> hashes = new ArrayList<>(works.size());
            for (int i = 0; i < works.size(); i++) {
                PrefixHashing.Prompt prompt = prompt(poolId, tenants.get(i), works.get(i));
                prompts.add(prompt);
                hashes.add(prompt.blockHashes());
            }
            List<PrefixRead> reads = pool.store().readPrefixes(pool.format(), hashes);
            for (int i = 0; i < out.length; i++) {
                long tokens = (long) reads.get(i).blocks() * hashing.blockSize();
                out[i] = (int) Math.min(tokens, Math.min(prompts.get(i).tokenCount(), works.get(i).promptTokens()));
            }
            return out;
        } catch (RuntimeException e) {
            failed("lookup", works.get(0), e);
            return new int[works.size()];
        }
    }

    @Override
    public void stored(String poolId, String tenant, SequenceWork work) {
        PoolKvCache pool = pools.get(poolId);
        if (pool == null) {
            return;
        }
        try {
            PrefixHashing.Prompt prompt = prompt(poolId, tenant, work);
            recent.invalidate(key(poolId, work));
            List<Long> hashes = prompt.blockHashes();
            int from = Math.min(hashes.size(), work.cachedPrefixTokens() / hashing.blockSize());
            if (from == hashes.size()) {
                return;
            }
            List<Long> fresh = List.copyOf(hashes.subList(from, hashes.size()));
            storeExecutor.execute(() -> {
                try {
                    List<byte[]> payloads = new ArrayList<>(fresh.size());
                    for (Long h : fresh) {
                        payloads.add(SimulatedKvPayloads.generate(pool.format(), h, pool.payloadBytesPerBlock()));
                    }
                    pool.store().storeAll(pool.format(), fresh, payloads);
                } catch (RuntimeException e) {
                    failed("store", work, e);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            skippedStores.increment(); // the cache is best effort: a busy writer costs future hits, never the job
        } catch (RuntimeException e) {
            failed("store", work, e);
        }
    }

    private PrefixHashing.Prompt prompt(String poolId, String tenant, SequenceWork work) {
        return recent.get(key(poolId, work),
                k -> hashing.analyze(work.model(), tenant, fromWork(work.messages())));
    }

    /** Worker-side messages as template messages. */
    static List<ChatMessage> fromWork(List<SequenceWork.Message> messages) {
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (SequenceWork.Message m : messages) {
            out.add(PrefixHashing.message(m.role(), m.content()));
        }
        return out;
    }

    private static String key(String poolId, SequenceWork work) {
        return poolId + '\0' + work.jobId();
    }

    private void failed(String what, SequenceWork work, RuntimeException e) {
        errors.increment();
        LOG.warn("KV cache {} for job {} failed, treated as a miss: {}", what, work.jobId(), e.toString());
    }
}
