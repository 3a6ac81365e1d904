package io.inferq.dispatcher.kv;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.kvcache.events.EngineBlockIndex;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The dispatcher's {@link PrefixLocator} in "precise" mode for pools whose engines publish KV-cache events
 * (vLLM {@code --kv-events-config}): what each instance really holds ({@link EngineBlockIndex}), instead of the
 * approximate index's guess from where inferq sent earlier jobs. Other pools, and a precise pool whose events
 * stopped (an instance silent for longer than its {@code staleAfter}, or publishing another block size), are
 * answered by {@code fallback}.
 *
 * <p>The engine index is keyed by the chain of the <em>engine's</em> token ids, unsalted (an event does not say
 * which tenant a block belongs to), while the dispatcher's hashes are tenant-salted: so at intake
 * ({@link #remember}) the prompt's tokens are chained the engine index's way too and kept, bounded, under the
 * salted hashes. The two match only when inferq's tokenizer and chat template produce the engine's token ids.
 *
 * <p>Never blocks: lookups are in-memory. Thread-safe. Metrics: {@code inferq.kv.locator.precise{result=hit|miss|stale}}.
 */
public final class EnginePrefixLocator implements PrefixLocator {

    private final PrefixLocator fallback;
    private final EngineBlockIndex index;
    private final Map<String, Long> staleAfterNanosByPool;
    private final Cache<Key, List<Long>> engineHashes = Caffeine.newBuilder().maximumSize(100_000)
            .expireAfterWrite(Duration.ofMinutes(10)).executor(Runnable::run).build();
    private final Counter hit;
    private final Counter miss;
    private final Counter stale;

    private record Key(long lastHash, int blocks) {
        static Key of(List<Long> hashes) {
            return new Key(hashes.get(hashes.size() - 1), hashes.size());
        }
    }

    /**
     * @param fallback              the approximate locator
     * @param index                 the engines' blocks
     * @param staleAfterNanosByPool the precise pools and how long each instance may be silent before the pool falls back
     */
    public EnginePrefixLocator(PrefixLocator fallback, EngineBlockIndex index, Map<String, Long> staleAfterNanosByPool,
                               MeterRegistry registry) {
        this.fallback = Objects.requireNonNull(fallback, "fallback must not be null");
        this.index = Objects.requireNonNull(index, "index must not be null");
        this.staleAfterNanosByPool = Map.copyOf(staleAfterNanosByPool);
        this.hit = Counter.builder("inferq.kv.locator.precise").tag("result", "hit").register(registry);
        this.miss = Counter.builder("inferq.kv.locator.precise").tag("result", "miss").register(registry);
        this.stale = Counter.builder("inferq.kv.locator.precise").tag("result", "stale").register(registry);
    }

    /** At intake: the prompt's salted hashes and its tokens (chained here the engine index's way). */
    public void remember(List<Long> saltedHashes, int[] tokens) {
        if (saltedHashes.isEmpty()) {
            return;
        }
        engineHashes.put(Key.of(saltedHashes), index.hasher().blockHashes(tokens));
    }

    private List<Long> engineHashesOf(List<Long> saltedHashes) {
        return saltedHashes.isEmpty() ? null : engineHashes.getIfPresent(Key.of(saltedHashes));
    }

    private boolean precise(String poolId) {
        Long staleAfter = staleAfterNanosByPool.get(poolId);
        if (staleAfter == null) {
            return false;
        }
        if (!index.isFresh(poolId, staleAfter)) {
            stale.increment();
            return false;
        }
        return true;
    }

    @Override
    public Map<String, Integer> cachedLeadingBlocksByPool(List<Long> blockHashes) {
        Map<String, Integer> out = new HashMap<>(fallback.cachedLeadingBlocksByPool(blockHashes));
        List<Long> engine = engineHashesOf(blockHashes);
        for (String pool : staleAfterNanosByPool.keySet()) {
            if (!precise(pool)) {
                continue;
            }
            int best = 0;
            if (engine != null) {
                for (int n : index.leadingBlocksByInstance(pool, engine)) {
                    best = Math.max(best, n);
                }
            }
            (best > 0 ? hit : miss).increment();
            if (best > 0) {
                out.put(pool, best);
            } else {
                out.remove(pool);
            }
        }
        return out;
    }

    @Override
    public int[] cachedLeadingBlocksByInstance(String poolId, List<Long> blockHashes) {
        if (!staleAfterNanosByPool.containsKey(poolId) || !index.isFresh(poolId, staleAfterNanosByPool.get(poolId))) {
            return fallback.cachedLeadingBlocksByInstance(poolId, blockHashes);
        }
        List<Long> engine = engineHashesOf(blockHashes);
        return engine == null ? new int[0] : index.leadingBlocksByInstance(poolId, engine);
    }
}
