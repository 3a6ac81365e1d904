package io.inferq.dispatcher.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.index.PrefixMatch;
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

/** The dispatcher's prompt analyser and index-backed prefix locator on kv-cache-store. */
class IndexPrefixLocatorTest {

    static final String MODEL = "deepseek-v2-lite";
    static final PrefixHashing HASHING = PrefixHashing.defaults(Map.of("acme", "salt-acme", "globex", "salt-globex")::get);

    final MeterRegistry registry = new SimpleMeterRegistry();

    static JobRequest request(String jobId, String tenant, List<ChatMessage> messages) {
        return JobRequest.newBuilder().setJobId(jobId).setTenant(tenant).setModel(MODEL).setMessages(messages)
                .setPromptTokens(7).build();
    }

    static List<ChatMessage> conversation() {
        String text = IntStream.range(0, 600).mapToObj(i -> "word" + ((i * 7919L + 1) % 1000)).collect(Collectors.joining(" "));
        return List.of(new ChatMessage("system", text), new ChatMessage("user", "and now?"));
    }

    @Test
    void analyzerCountsRealTokensHashesPerTenantAndTheLocatorFindsThePool() {
        InMemoryPrefixIndex index = new InMemoryPrefixIndex(100_000);
        IndexPrefixLocator locator = new IndexPrefixLocator(index, Runnable::run, registry);
        List<List<Long>> prefetched = new ArrayList<>();
        KvPromptAnalyzer analyzer = new KvPromptAnalyzer(HASHING, prefetched::add);

        PromptAnalyzer.PromptShape shape = analyzer.analyze(request("j1", "acme", conversation()));
        PrefixHashing.Prompt direct = HASHING.analyze(MODEL, "acme", KvPromptAnalyzer.fromAvro(conversation()));
        assertThat(shape.promptTokens()).isEqualTo(direct.tokenCount()).isNotEqualTo(7);
        assertThat(shape.blockHashes()).isEqualTo(direct.blockHashes()).hasSize(direct.tokenCount() / 64);
        assertThat(prefetched).containsExactly(shape.blockHashes());
        assertThat(locator.cachedLeadingBlocksByPool(shape.blockHashes())).isEmpty();

        index.recordStored(new BlockHolder("w1", "h800-lite"), shape.blockHashes());
        // the first answer ("nothing") is cached for the TTL; a longer prompt is a new key
        List<Long> longer = new ArrayList<>(shape.blockHashes());
        longer.add(42L);
        assertThat(locator.cachedLeadingBlocksByPool(longer)).containsEntry("h800-lite", shape.blockHashes().size());
        assertThat(IndexPrefixLocator.direct(index).cachedLeadingBlocksByPool(shape.blockHashes()))
                .containsEntry("h800-lite", shape.blockHashes().size());
        // another tenant's identical conversation hashes differently
        assertThat(analyzer.analyze(request("j3", "globex", conversation())).blockHashes())
                .doesNotContainAnyElementsOf(shape.blockHashes());
        // an untokenisable request falls back to the estimate
        JobRequest odd = request("j4", "acme", List.of(new ChatMessage("user turn!", "hi")));
        assertThat(analyzer.analyze(odd)).isEqualTo(new PromptAnalyzer.PromptShape(7, List.of()));
    }

    @Test
    void locatorNeverBlocksTheScheduler() {
        List<Runnable> queued = new ArrayList<>();
        AtomicInteger lookups = new AtomicInteger();
        PrefixIndex slow = new PrefixIndex() {
            @Override
            public void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
            }

            @Override
            public void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
            }

            @Override
            public Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
                lookups.incrementAndGet();
                return Map.of("w", new PrefixMatch(new BlockHolder("w", "pool-a"), 2));
            }
        };
        IndexPrefixLocator locator = new IndexPrefixLocator(slow, queued::add, registry);
        List<Long> hashes = List.of(1L, 2L, 3L);
        locator.prefetch(hashes);
        assertThat(locator.cachedLeadingBlocksByPool(hashes)).isEmpty();      // lookup not run yet: no wait
        assertThat(queued).hasSize(1);                                        // one lookup, reused
        queued.get(0).run();
        assertThat(locator.cachedLeadingBlocksByPool(hashes)).isEqualTo(Map.of("pool-a", 2));
        assertThat(lookups).hasValue(1);
        assertThat(registry.get("inferq.kv.locator.lookups").tag("result", "pending").counter().count()).isEqualTo(1);
    }
}
