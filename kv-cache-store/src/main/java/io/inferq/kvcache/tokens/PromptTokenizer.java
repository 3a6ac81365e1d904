package io.inferq.kvcache.tokens;

import java.util.List;

/**
 * Turns prompt text into token ids. Implementations are immutable and thread-safe; {@code encode} is
 * CPU-bound (roughly linear in the text length) and may be called from any thread, but long prompts
 * (hundreds of KiB) should not be tokenised on an event loop.
 *
 * <p>The {@link #name()} is part of the hash seed, so two tokenizers never share cache entries.
 *
 * <p>Extension point: a HuggingFace {@code tokenizer.json} (for models whose vocabulary is not a tiktoken
 * one, e.g. DeepSeek's) would be another implementation of this interface, named e.g.
 * {@code "hf:deepseek-v3@<sha256 of tokenizer.json>"}. It is not shipped (it needs a tokenizer.json
 * reader and the model's pre-tokenizer rules); {@link #o200kBase()} is the default.
 */
public interface PromptTokenizer {

    /** A stable name that identifies the vocabulary and its version, e.g. {@code "tiktoken:o200k_base"}. */
    String name();

    /**
     * Tokenises {@code text}. Special-token markers in the text are encoded as ordinary text.
     *
     * @throws NullPointerException if {@code text} is null
     */
    int[] encode(String text);

    /**
     * Renders {@code messages} through {@link ChatTemplate} (with the generation prompt) and tokenises the
     * result. Equal conversations give equal tokens.
     */
    default int[] encodeChat(List<ChatMessage> messages) {
        return encode(ChatTemplate.render(messages, true));
    }

    /** OpenAI's {@code o200k_base} BPE (vocabulary shipped inside the JTokkit jar). Loading takes ~1 s once. */
    static PromptTokenizer o200kBase() {
        return JtokkitTokenizer.O200K_BASE.get();
    }
}
