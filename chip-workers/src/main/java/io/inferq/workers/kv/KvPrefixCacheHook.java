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
 * The hashes of a job are kept between the two calls (a small bounded cache by pool and job id), so a prompt is
 * tokenised at most once per run, and not at all when the batch carries the hashes the dispatcher computed at
 * intake ({@code PoolBatch.prompt_blocks}, see {@link #cachedPrefixTokens(String, List, List, CarriedBlockHashes)}).
 *
 * <p>Lookups run on the slot thread (they block on Hazelcast when the pool's store has a shared tier); {@link #stored}
 * runs on whatever thread reports a prefill (an engine thread too), hashes from its cache of recent prompts and hands
 * the write to the store executor. Thread-safe. Never throws: any failure is logged, counted
 * ({@code inferq.kv.hook.errors}) and answered as a miss.
 */
public final class KvPrefixCacheHook implements PrefixCacheHook {

    private static final Logger LOG = LoggerFactory.getLogger(KvPrefixCacheHook.class);

    private final PrefixHashing hashing;
    private final Map<String, PoolKvCache> pools;
    private final Cache<String, Hashed> recent;

    /** A prompt's full-block hashes and its token count (hashed here, or carried from the dispatcher). */
    private record Hashed(List<Long> blockHashes, int tokenCount) {
    }
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
        return cachedPrefixTokens(poolId, tenants, works, null);
    }

    /**
     * As above, taking each prompt's hashes from {@code carried} when it was made with this hook's block size (the
     * dispatcher hashed the prompt at intake through the same {@link PrefixHashing} settings): the prompt is then
     * not tokenised here at all. Without them (null, or another block size) each prompt is hashed here.
     */
    @Override
    public int[] cachedPrefixTokens(String poolId, List<String> tenants, List<SequenceWork> works,
            CarriedBlockHashes carried) {
        PrefixCacheHook.requireOneTenantPerSequence(tenants, works);
        boolean useCarried = carried != null && carried.blockTokens() == hashing.blockSize()
                && carried.bySequence().size() == works.size();
        int[] out = new int[works.size()];
        PoolKvCache pool = pools.get(poolId);
        if (pool == null || works.isEmpty()) {
            return out;
        }
        try {
            List<Hashed> prompts = new ArrayList<>(works.size());
            List<List<Long>> hashes = new ArrayList<>(works.size());
            for (int i = 0; i < works.size(); i++) {
                Hashed prompt;
                if (useCarried) {
                    // the dispatcher's count is the real one (it replaced the intake estimate when it hashed)
                    prompt = new Hashed(carried.bySequence().get(i), works.get(i).promptTokens());
                    recent.put(key(poolId, works.get(i)), prompt);
                } else {
                    prompt = prompt(poolId, tenants.get(i), works.get(i));
                }
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
            Hashed prompt = prompt(poolId, tenant, work);
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

    private Hashed prompt(String poolId, String tenant, SequenceWork work) {
        return recent.get(key(poolId, work), k -> {
            PrefixHashing.Prompt p = hashing.analyze(work.model(), tenant, fromWork(work.messages()));
            return new Hashed(p.blockHashes(), p.tokenCount());
        });
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
