package io.inferq.kvcache.tokens;

import java.util.List;
import java.util.Objects;

/**
 * The chat template: renders a conversation as one string before tokenisation, so the same conversation
 * always yields the same tokens (and a conversation that extends another yields a token sequence that
 * extends the other's — which is what makes multi-turn prefixes cacheable).
 *
 * <p>The format is ChatML-like and fixed (version 1); changing it changes every hash, so do it only
 * together with a new tokenizer name:
 * <pre>
 * &lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n      (for each message, in order)
 * &lt;|im_start|&gt;assistant\n                         (generation prompt, only if requested)
 * </pre>
 * Content is not escaped. The markers are tokenised as ordinary text (see
 * {@link PromptTokenizer#encodeChat}), so a user who types a marker cannot inject a special token.
 *
 * <p>Stateless and thread-safe.
 */
final class ChatTemplate {

    private static final String START = "<|im_start|>";
    private static final String END = "<|im_end|>";

    private ChatTemplate() {
    }

    /**
     * Renders {@code messages} in order.
     *
     * @param addGenerationPrompt whether to append the opening of the assistant's turn
     * @throws NullPointerException if {@code messages} or an element is null
     */
    public static String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Objects.requireNonNull(messages, "messages must not be null");
        StringBuilder out = new StringBuilder();
        for (ChatMessage m : messages) {
            Objects.requireNonNull(m, "messages must not contain null");
            out.append(START).append(m.role()).append('\n').append(m.content()).append(END).append('\n');
        }
        if (addGenerationPrompt) {
            out.append(START).append("assistant\n");
        }
        return out.toString();
    }
}
