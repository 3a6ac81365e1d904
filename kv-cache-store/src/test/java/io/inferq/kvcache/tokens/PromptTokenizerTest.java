package io.inferq.kvcache.tokens;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class PromptTokenizerTest {

    private final PromptTokenizer tokenizer = PromptTokenizer.o200kBase();

    @Test
    void isO200kBase() {
        assertThat(tokenizer.name()).isEqualTo("tiktoken:o200k_base");
        // tiktoken: o200k_base.encode("hello world") == [24912, 2375]
        assertThat(tokenizer.encode("hello world")).containsExactly(24912, 2375);
        assertThat(PromptTokenizer.o200kBase()).isSameAs(tokenizer);
    }

    @Test
    void specialTokenMarkersAreOrdinaryText() {
        int[] tokens = tokenizer.encode("<|endoftext|>");
        assertThat(tokens.length).isGreaterThan(1);
    }

    @Test
    void templateIsDeterministicAndDocumented() {
        List<ChatMessage> chat = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"));
        assertThat(ChatTemplate.render(chat, true)).isEqualTo(
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(ChatTemplate.render(chat, false)).doesNotEndWith("assistant\n");
    }

    @Test
    void identicalConversationsGiveIdenticalTokensAndExtensionsExtendThem() {
        List<ChatMessage> turn1 = List.of(new ChatMessage("system", "You are a helpful assistant."),
                new ChatMessage("user", "Explain MLA in one paragraph."));
        List<ChatMessage> sameAgain = List.of(new ChatMessage("system", "You are a helpful assistant."),
                new ChatMessage("user", "Explain MLA in one paragraph."));
        assertThat(tokenizer.encodeChat(turn1)).isEqualTo(tokenizer.encodeChat(sameAgain));

        List<ChatMessage> turn2 = new java.util.ArrayList<>(turn1);
        turn2.add(new ChatMessage("assistant", "MLA compresses keys and values into a latent."));
        turn2.add(new ChatMessage("user", "And the RoPE part?"));
        int[] first = tokenizer.encodeChat(turn1);
        int[] second = tokenizer.encodeChat(turn2);
        assertThat(Arrays.copyOf(second, first.length)).isEqualTo(first);
    }

    @Test
    void validatesMessages() {
        assertThatThrownBy(() -> new ChatMessage("User", "x")).hasMessageContaining("role must be non-empty lower-case");
        assertThatThrownBy(() -> new ChatMessage("user", null)).hasMessageContaining("content must not be null");
    }
}
