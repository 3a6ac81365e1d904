package io.inferq.dispatcher.kv;

import io.inferq.broker.avro.JobRequest;
import io.inferq.dispatcher.runtime.PromptAnalyzer;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.kvcache.tokens.ChatMessage;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dispatcher's {@link PromptAnalyzer} on kv-cache-store: renders the request's chat messages through the
 * chat template, tokenises them (the real prompt length, replacing the intake's estimate) and hashes the full
 * blocks with the tenant-salted seed — all through the same {@link PrefixHashing} as the workers, so the
 * hashes match what workers store. The hashes are then handed to {@code onHashes} (typically
 * {@link IndexPrefixLocator#prefetch}), so the index lookup runs while the job waits to be batched.
 *
 * <p>CPU-bound, no network calls. Thread-safe. A request that cannot be tokenised (e.g. an unusual role
 * name) falls back to {@link PromptAnalyzer#ESTIMATE_ONLY}: prefix-blind routing, never a rejected job.
 */
public final class KvPromptAnalyzer implements PromptAnalyzer {

    private static final Logger LOG = LoggerFactory.getLogger(KvPromptAnalyzer.class);

    private final PrefixHashing hashing;
    private final java.util.function.BiConsumer<List<Long>, int[]> onHashes;

    /**
     * @param hashing  shared tokenisation and hashing
     * @param onHashes told each prompt's block hashes (non-blocking, e.g. {@code locator::prefetch})
     */
    public KvPromptAnalyzer(PrefixHashing hashing, Consumer<List<Long>> onHashes) {
        this(hashing, onHashes == null ? null : (java.util.function.BiConsumer<List<Long>, int[]>) (h, t) -> onHashes.accept(h),
                false);
    }

    /**
     * @param onPrompt told each prompt's block hashes and its tokens (non-blocking; e.g. the engine-events locator,
     *                 which chains the tokens its own way)
     */
    public static KvPromptAnalyzer withTokens(PrefixHashing hashing, java.util.function.BiConsumer<List<Long>, int[]> onPrompt) {
        return new KvPromptAnalyzer(hashing, onPrompt, true);
    }

    private KvPromptAnalyzer(PrefixHashing hashing, java.util.function.BiConsumer<List<Long>, int[]> onPrompt,
                             boolean withTokens) {
        this.hashing = Objects.requireNonNull(hashing, "hashing must not be null");
        this.onHashes = Objects.requireNonNull(onPrompt, "onHashes must not be null");
    }

    /** Without prefetching. */
    public KvPromptAnalyzer(PrefixHashing hashing) {
        this(hashing, (Consumer<List<Long>>) hashes -> { });
    }

    @Override
    public PromptShape analyze(JobRequest request) {
        PrefixHashing.Prompt prompt;
        try {
            prompt = hashing.analyze(request.getModel(), request.getTenant(), fromAvro(request.getMessages()));
        } catch (RuntimeException e) {
            LOG.warn("job {}: prompt could not be tokenised, routing on the intake estimate: {}",
                    request.getJobId(), e.toString());
            return ESTIMATE_ONLY.analyze(request);
        }
        if (!prompt.blockHashes().isEmpty()) {
            try {
                onHashes.accept(prompt.blockHashes(), prompt.tokens());
            } catch (RuntimeException e) {
                LOG.debug("prefix prefetch failed: {}", e.toString());
            }
        }
        return new PromptShape(Math.max(1, prompt.tokenCount()), prompt.blockHashes());
    }

    /** Avro chat messages as template messages. */
    static List<ChatMessage> fromAvro(List<io.inferq.broker.avro.ChatMessage> messages) {
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (io.inferq.broker.avro.ChatMessage m : messages) {
            out.add(PrefixHashing.message(m.getRole(), m.getContent()));
        }
        return out;
    }
}
