package io.inferq.kvcache.hashing;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.kvcache.tokens.ChatMessage;
import io.inferq.kvcache.tokens.PromptTokenizer;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A prompt analysed by the dispatcher is not tokenised again by a worker of the same process. */
class PrefixHashingTest {

    /** o200k_base, counting its calls. */
    static final class CountingTokenizer implements PromptTokenizer {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public String name() {
            return PromptTokenizer.o200kBase().name();
        }

        @Override
        public int[] encode(String text) {
            calls.incrementAndGet();
            return PromptTokenizer.o200kBase().encode(text);
        }
    }

    @Test
    void anEqualConversationIsTokenisedOnceAndGetsTheSameHashes() {
        CountingTokenizer tokenizer = new CountingTokenizer();
        PrefixHashing hashing = new PrefixHashing(tokenizer, 4, tenant -> null);
        String text = "the quick brown fox jumps over the lazy dog ".repeat(8);

        PrefixHashing.Prompt atIntake = hashing.analyze("deepseek-r1", "acme", List.of(new ChatMessage("user", text)));
        // the worker decodes its own copy of the request: equal, not identical, strings
        PrefixHashing.Prompt atWorker = hashing.analyze("deepseek-r1", "acme",
                List.of(PrefixHashing.message("USER", new String(text.toCharArray()))));

        assertThat(tokenizer.calls).hasValue(1);
        assertThat(atWorker.blockHashes()).isEqualTo(atIntake.blockHashes()).isNotEmpty();
        assertThat(atWorker.tokenCount()).isEqualTo(atIntake.tokenCount());
    }

    @Test
    void anotherTenantModelOrTextIsAnalysedAfreshWithItsOwnSeed() {
        CountingTokenizer tokenizer = new CountingTokenizer();
        PrefixHashing hashing = new PrefixHashing(tokenizer, 4, tenant -> null);
        List<ChatMessage> conv = List.of(new ChatMessage("user", "one two three four five six seven eight nine ten"));

        List<Long> acme = hashing.analyze("deepseek-r1", "acme", conv).blockHashes();
        List<Long> globex = hashing.analyze("deepseek-r1", "globex", conv).blockHashes();
        List<Long> otherModel = hashing.analyze("deepseek-v3", "acme", conv).blockHashes();
        hashing.analyze("deepseek-r1", "acme", List.of(new ChatMessage("user", "one two three four five six seven eight nine")));

        assertThat(tokenizer.calls).hasValue(4);
        assertThat(globex).as("tenants are salted apart").isNotEqualTo(acme);
        assertThat(otherModel).isNotEqualTo(acme);
    }
}
