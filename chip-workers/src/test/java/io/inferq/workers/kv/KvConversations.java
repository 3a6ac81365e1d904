package io.inferq.workers.kv;

import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.pool.PoolLimits;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.pool.PoolSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * What the KV cache tests of the workers (here) and of the server's wiring ({@code KvAdaptersTest}, through this
 * module's test jar) build on: one small model's pools, the hashing with two tenants' salts, and long multi-turn
 * conversations whose prompts fill many blocks.
 */
public final class KvConversations {
    public static final ChipCatalogue CHIPS = ChipCatalogue.builtIn();
    public static final ModelCatalogue MODELS = ModelCatalogue.builtIn();
    public static final String MODEL = "deepseek-v2-lite";
    public static final Map<String, String> SALTS = Map.of("acme", "salt-acme", "globex", "salt-globex");
    public static final PrefixHashing HASHING = PrefixHashing.defaults(SALTS::get);
    /** Payloads 1024× smaller than real KV: the tests count blocks, not bytes. */
    public static final int SCALE = 1024;

    private KvConversations() {
    }

    /** A one-instance simulated pool of {@link #MODEL} on {@code chip}. */
    public static PoolPlan plan(String id, String chip) {
        return PoolPlan.resolve(PoolSpec.simulated(id, chip, 1, 1, MODEL, new PoolLimits(8192, 16)), CHIPS, MODELS);
    }

    /** {@code words} words of a fixed pseudo-random text. */
    public static String longText(int seed, int words) {
        return IntStream.range(0, words).mapToObj(i -> "word" + ((i * 7919L + seed) % 1000))
                .collect(Collectors.joining(" "));
    }

    /** A long system prompt, then {@code turns} user/assistant turns. */
    public static List<SequenceWork.Message> conversation(int turns) {
        List<SequenceWork.Message> m = new ArrayList<>();
        m.add(new SequenceWork.Message("system", longText(1, 300)));
        for (int t = 0; t < turns; t++) {
            m.add(new SequenceWork.Message("user", longText(100 + t, 120)));
            m.add(new SequenceWork.Message("assistant", longText(200 + t, 80)));
        }
        return m;
    }

    public static SequenceWork work(String jobId, List<SequenceWork.Message> messages, int promptTokens, int cached) {
        return new SequenceWork(jobId, MODEL, messages, promptTokens, 64, null, cached);
    }
}
