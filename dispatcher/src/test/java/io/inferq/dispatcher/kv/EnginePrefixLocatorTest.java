package io.inferq.dispatcher.kv;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.BatchPlan;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.LengthBuckets;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.QueuedJob;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.ServiceTimeModel;
import io.inferq.kvcache.events.EngineBlockIndex;
import io.inferq.kvcache.events.KvEventBatch;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.tokens.ChatMessage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Precise prefix routing: an engine instance's KV events say it holds a prompt's prefix; the dispatcher sends the
 * prompt's batch to that instance (without events it would pick instance 0), and falls back when events stop.
 */
class EnginePrefixLocatorTest {

    static final ServiceTimeModel LINEAR = new ServiceTimeModel() {
        @Override
        public double prefillSeconds(int uncachedPromptTokens) {
            return uncachedPromptTokens / 10_000.0;
        }

        @Override
        public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
            return outputTokens * 0.01;
        }
    };

    static KvEventBatch stored(int[] tokens, int blocks, int blockSize, String hashPrefix) {
        List<String> hashes = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            hashes.add(hashPrefix + i);
        }
        return new KvEventBatch(1.0, List.of(new KvEventBatch.BlockStored(hashes, null,
                Arrays.copyOf(tokens, blocks * blockSize), blockSize, false, "GPU")), null);
    }

    @Test
    void aPromptGoesToTheInstanceHoldingItsPrefixUntilTheEventsStop() {
        PrefixHashing hashing = PrefixHashing.defaults(tenant -> null);
        String text = "You are a careful assistant for the support desk of a large retailer. ".repeat(40);
        PrefixHashing.Prompt prompt = hashing.analyze("deepseek-v3", "acme",
                List.of(new ChatMessage("system", text), new ChatMessage("user", "Where is my parcel?")));
        assertThat(prompt.blockHashes()).hasSizeGreaterThan(3);
        PrefixHashing.Prompt other = hashing.analyze("deepseek-v3", "acme",
                List.of(new ChatMessage("system", "Something else entirely. ".repeat(60))));

        AtomicLong nanos = new AtomicLong();
        EngineBlockIndex index = new EngineBlockIndex(hashing.engineHasher(), new java.time.Clock() {
            @Override
            public java.time.Instant instant() {
                return java.time.Instant.ofEpochSecond(0, nanos.get());
            }

            @Override
            public java.time.ZoneId getZone() {
                return java.time.ZoneOffset.UTC;
            }

            @Override
            public java.time.Clock withZone(java.time.ZoneId zone) {
                return this;
            }
        });
        index.registerPool("vllm", 2);
        int bs = hashing.blockSize();
        index.apply("vllm", 0, stored(other.tokens(), 2, bs, "x"));
        index.apply("vllm", 1, stored(prompt.tokens(), 3, bs, "y"));

        long staleAfter = 60_000_000_000L;
        EnginePrefixLocator locator = new EnginePrefixLocator(PrefixLocator.NONE, index, Map.of("vllm", staleAfter),
                new SimpleMeterRegistry());
        locator.remember(prompt.blockHashes(), prompt.tokens());
        assertThat(locator.cachedLeadingBlocksByInstance("vllm", prompt.blockHashes())).containsExactly(0, 3);
        assertThat(locator.cachedLeadingBlocksByPool(prompt.blockHashes())).containsEntry("vllm", 3);

        DispatchConfig cfg = DispatchConfig.defaults().withLengthBuckets(LengthBuckets.of(100, 100_000))
                .withMaxWaits(10, 100).withMaxInFlightBatchesPerInstance(1).withPrefix(bs, 1.0);
        List<PoolProfile> pools = List.of(new PoolProfile("vllm", "h800", "deepseek-v3", 2, 100_000, 8, LINEAR));
        QueuedJob job = new QueuedJob("j1", "acme", "deepseek-v3", JobLane.INTERACTIVE, prompt.tokenCount(), 16, 0, null,
                prompt.blockHashes());

        DispatchScheduler precise = new DispatchScheduler(cfg, pools, RoutingPolicies.estimatedCompletion(), locator);
        precise.enqueue(job);
        List<BatchPlan> plans = precise.formBatches(1_000);
        assertThat(plans).hasSize(1);
        assertThat(plans.get(0).instance()).as("the instance whose events hold the prefix").isEqualTo(1);

        DispatchScheduler blind = new DispatchScheduler(cfg, pools, RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        blind.enqueue(job);
        assertThat(blind.formBatches(1_000).get(0).instance()).isZero();

        // the events stop: the pool falls back to the approximate locator (here: knows nothing)
        nanos.addAndGet(staleAfter + 1);
        assertThat(locator.cachedLeadingBlocksByInstance("vllm", prompt.blockHashes())).isEmpty();
        assertThat(locator.cachedLeadingBlocksByPool(prompt.blockHashes())).doesNotContainKey("vllm");
        index.heardFrom("vllm", 0);
        index.heardFrom("vllm", 1);
        assertThat(locator.cachedLeadingBlocksByInstance("vllm", prompt.blockHashes())).containsExactly(0, 3);
    }
}
