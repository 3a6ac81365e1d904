package io.inferq.kvcache.hashing;

import io.inferq.kvcache.tokens.ChatMessage;
import io.inferq.kvcache.tokens.PromptTokenizer;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;

/**
 * The one place that turns a conversation into tokens and chained block hashes, shared by the dispatcher
 * (its prompt analyser and prefix locators) and the workers (their prefix-cache hook), so the
 * routing hash and the store key always agree: same chat template and tokenizer, same block size, same seed
 * {@code HashSeed.derive(model as the client named it, tokenizer name, tenant cache salt)}.
 *
 * <p>Tenant salt: {@code saltOfTenant} gives a tenant's secret cache salt; a tenant without one
 * ({@code null}) is salted with {@code "tenant:" + tenantId}, so tenants never share (or can time) each
 * other's prefixes unless a deployment gives them the same salt on purpose.
 *
 * <p>Thread-safe; its only state is a bounded cache of recent analyses. Tokenising is CPU-bound (linear in
 * the prompt): not for an event loop with very long prompts.
 */
public final class PrefixHashing {

    /** Layout part of every {@link io.inferq.kvcache.KvFormat} made here. */
    public static final String LAYOUT = "flashmla-paged";

    /**
     * Bound of the recent-analyses cache, in bytes as estimated per entry (2 per prompt character, 4 per token,
     * 24 per block hash, 256 of objects): 16 MB. Entries also expire 30 s after they were made, so an
     * ingress+dispatcher process taking thousands of submits a second holds at most that much; a job whose
     * batch runs later than that is tokenised again by its worker.
     */
    public static final long RECENT_MAX_WEIGHT = 16L << 20;

    private final PromptTokenizer tokenizer;
    private final int blockSize;
    private final Function<String, String> saltOfTenant;

    private record AnalysisKey(String model, String tenant, List<ChatMessage> messages) {
        int weight() {
            long chars = 0;
            for (ChatMessage m : messages) {
                chars += m.content().length() + m.role().length();
            }
            return (int) Math.min(Integer.MAX_VALUE / 2, 2 * chars + 256);
        }
    }

    private final com.github.benmanes.caffeine.cache.Cache<AnalysisKey, Prompt> recent =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder()
                    .maximumWeight(RECENT_MAX_WEIGHT)
                    .<AnalysisKey, Prompt>weigher((k, p) -> k.weight() + 4 * p.tokenCount() + 24 * p.blockHashes().size())
                    .expireAfterWrite(java.time.Duration.ofSeconds(30))
                    .executor(Runnable::run)
                    .build();

    /**
     * @param tokenizer    the tokenizer (its name is part of the seed)
     * @param blockSize    tokens per block, positive
     * @param saltOfTenant tenant id → cache salt, or null for "none configured"; must be thread-safe
     */
    public PrefixHashing(PromptTokenizer tokenizer, int blockSize, Function<String, String> saltOfTenant) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer must not be null");
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, was " + blockSize);
        }
        this.blockSize = blockSize;
        this.saltOfTenant = Objects.requireNonNull(saltOfTenant, "saltOfTenant must not be null");
    }

    /** o200k_base, {@link BlockHasher#DEFAULT_BLOCK_SIZE}-token blocks. */
    public static PrefixHashing defaults(Function<String, String> saltOfTenant) {
        return new PrefixHashing(PromptTokenizer.o200kBase(), BlockHasher.DEFAULT_BLOCK_SIZE, saltOfTenant);
    }

    public int blockSize() {
        return blockSize;
    }

    public PromptTokenizer tokenizer() {
        return tokenizer;
    }

    /** Tokens and chained hashes of one prompt's full blocks. */
    public record Prompt(int[] tokens, List<Long> blockHashes) {
        public Prompt {
            Objects.requireNonNull(tokens, "tokens must not be null");
            blockHashes = List.copyOf(blockHashes);
        }

        public int tokenCount() {
            return tokens.length;
        }
    }

    /** The tenant's cache salt (see the class comment). */
    public String saltOf(String tenant) {
        Objects.requireNonNull(tenant, "tenant must not be null");
        String salt = saltOfTenant.apply(tenant);
        return salt != null ? salt : "tenant:" + tenant;
    }

    /** The hash seed of ({@code model}, this tokenizer, {@code tenant}'s salt). */
    public HashSeed seed(String model, String tenant) {
        return HashSeed.derive(model, tokenizer.name(), saltOf(tenant));
    }

    /**
     * Renders {@code messages} through the chat template, tokenises, and hashes the full blocks. The answer of
     * a recent equal call is reused: in a process that runs both the dispatcher and the workers, a job's prompt
     * is tokenised once, at intake, not again when its batch runs soon after (see {@link #RECENT_MAX_WEIGHT}).
     * Callers must not modify the returned tokens.
     */
    public Prompt analyze(String model, String tenant, List<ChatMessage> messages) {
        return recent.get(new AnalysisKey(model, tenant, List.copyOf(messages)), k -> {
            int[] tokens = tokenizer.encodeChat(k.messages());
            return new Prompt(tokens, new BlockHasher(seed(k.model(), k.tenant()), blockSize).blockHashes(tokens));
        });
    }

    /**
     * The chain of a vLLM engine's KV-cache events for this tokenizer and block size: unsalted (an event does not say
     * which tenant a block belongs to), seeded with the tokenizer's name.
     */
    public BlockHasher engineHasher() {
        return new BlockHasher(HashSeed.derive("vllm-kv-events", tokenizer.name(), ""), blockSize);
    }

    /** A chat message with its role lower-cased and nulls as empty strings, as the chat template takes it. */
    public static ChatMessage message(String role, String content) {
        return new ChatMessage(role == null ? "" : role.toLowerCase(Locale.ROOT), content == null ? "" : content);
    }
}
