package io.inferq.server.kv;

import static io.inferq.workers.kv.KvConversations.HASHING;
import static io.inferq.workers.kv.KvConversations.MODEL;
import static io.inferq.workers.kv.KvConversations.SCALE;
import static io.inferq.workers.kv.KvConversations.conversation;
import static io.inferq.workers.kv.KvConversations.longText;
import static io.inferq.workers.kv.KvConversations.plan;
import static io.inferq.workers.kv.KvConversations.work;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.dispatcher.kv.IndexPrefixLocator;
import io.inferq.dispatcher.kv.KvPromptAnalyzer;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.workers.backend.SequenceWork;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.kv.KvPrefixCacheHook;
import io.inferq.workers.kv.PoolKvCache;
import io.inferq.workers.pool.PoolLimits;
import io.inferq.workers.pool.PoolPlan;
import io.inferq.workers.pool.PoolSpec;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The wiring's promise across modules: the dispatcher's analyser (dispatcher) and the workers' hook (chip-workers)
 * hash a prompt the same way through one {@link PrefixHashing} (kv-cache-store), so what a worker stores is what
 * routing finds.
 */
class KvAdaptersTest {

    final MeterRegistry registry = new SimpleMeterRegistry();
    final InMemoryPrefixIndex index = new InMemoryPrefixIndex(100_000);

    static JobRequest request(String jobId, String tenant, List<SequenceWork.Message> messages) {
        return JobRequest.newBuilder().setJobId(jobId).setTenant(tenant).setModel(MODEL)
                .setMessages(messages.stream().map(m -> new ChatMessage(m.role(), m.content())).toList())
                .setPromptTokens(7).build();
    }

    static List<io.inferq.kvcache.tokens.ChatMessage> template(List<SequenceWork.Message> messages) {
        return messages.stream().map(m -> PrefixHashing.message(m.role(), m.content())).toList();
    }

    @Test
    void analyzerAndHookHashTheSameWayAndTheLocatorFindsThePool() {
        PoolPlan h800 = plan("h800-lite", "h800");
        KvBlockStore store = KvBlockStore.builder().holder(new BlockHolder("w1", "h800-lite"))
                .localMaxBytes(64L << 20).prefixIndex(index).meterRegistry(registry).build();
        KvPrefixCacheHook hook = new KvPrefixCacheHook(HASHING,
                Map.of("h800-lite", PoolKvCache.forPool(h800, store, HASHING, SCALE)), registry);
        List<SequenceWork.Message> conv = conversation(2);
        IndexPrefixLocator locator = new IndexPrefixLocator(index, Runnable::run, registry);

        PromptAnalyzer.PromptShape shape = new KvPromptAnalyzer(HASHING).analyze(request("j1", "acme", conv));
        int real = HASHING.analyze(MODEL, "acme", template(conv)).tokenCount();
        assertThat(shape.promptTokens()).isEqualTo(real).isNotEqualTo(7);
        assertThat(shape.blockHashes()).hasSize(real / 64);

        hook.stored("h800-lite", "acme", work("j0", conv, real, 0));
        PromptAnalyzer.PromptShape again = new KvPromptAnalyzer(HASHING, locator::prefetch).analyze(request("j2", "acme", conv));
        assertThat(again.blockHashes()).isEqualTo(shape.blockHashes());
        assertThat(locator.cachedLeadingBlocksByPool(shape.blockHashes())).containsEntry("h800-lite", shape.blockHashes().size());
    }
}
