package io.inferq.loadtests.kvcache;

import io.inferq.loadtests.policy.TraceRequest;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Turns trace block ids into tokens so that replayed prompts share exactly what the trace says they share.
 *
 * <p>Each trace block id maps to a fixed sequence of {@code traceBlockTokens} (512 for Mooncake) tokens
 * drawn from {@code SplittableRandom(seed ^ mix(id))} over {@code [0, vocabularySize)}. A request's prompt is
 * the concatenation of its blocks' sequences, cut to its {@code input_length} (the last trace block is
 * usually partial). Since an id in the Mooncake trace identifies its whole prefix, equal ids at position
 * {@code i} imply equal prompts up to block {@code i}; the synthesised prompts then give equal chained
 * hashes exactly there — with inference blocks of 64 tokens, 8 per full trace block. Different ids give
 * unrelated sequences (collisions of 512 random tokens are negligible).
 *
 * <p>Immutable and thread-safe; each call allocates its result.
 */
final class TracePrefixSynthesizer {

    /** Tokens per block id in the Mooncake traces. */
    public static final int MOONCAKE_BLOCK_TOKENS = 512;
    /** Vocabulary size of o200k_base, so synthetic ids look like real ones. */
    public static final int O200K_VOCABULARY = 200_000;

    private final int traceBlockTokens;
    private final int vocabularySize;
    private final long seed;

    public TracePrefixSynthesizer(int traceBlockTokens, int vocabularySize, long seed) {
        if (traceBlockTokens <= 0) {
            throw new IllegalArgumentException("traceBlockTokens must be positive, was " + traceBlockTokens);
        }
        if (vocabularySize <= 1) {
            throw new IllegalArgumentException("vocabularySize must be > 1, was " + vocabularySize);
        }
        this.traceBlockTokens = traceBlockTokens;
        this.vocabularySize = vocabularySize;
        this.seed = seed;
    }

    /** Mooncake defaults: 512 tokens per id, o200k-sized vocabulary, seed 0. */
    public static TracePrefixSynthesizer mooncake() {
        return new TracePrefixSynthesizer(MOONCAKE_BLOCK_TOKENS, O200K_VOCABULARY, 0L);
    }

    public int traceBlockTokens() {
        return traceBlockTokens;
    }

    /** The {@code traceBlockTokens} tokens of one block id. */
    public int[] blockTokens(long blockId) {
        int[] out = new int[traceBlockTokens];
        fill(blockId, out, 0, traceBlockTokens);
        return out;
    }

    /**
     * The prompt of {@code request}: {@code min(inputTokens, ids × traceBlockTokens)} tokens.
     */
    public int[] promptTokens(TraceRequest request) {
        Objects.requireNonNull(request, "request must not be null");
        List<Long> ids = request.blockHashes();
        int n = (int) Math.min(request.inputTokens(), (long) ids.size() * traceBlockTokens);
        int[] out = new int[n];
        for (int b = 0, off = 0; off < n; b++, off += traceBlockTokens) {
            fill(ids.get(b), out, off, Math.min(traceBlockTokens, n - off));
        }
        return out;
    }

    private void fill(long blockId, int[] out, int from, int count) {
        SplittableRandom rnd = new SplittableRandom(seed ^ mix(blockId));
        for (int i = 0; i < count; i++) {
            out[from + i] = rnd.nextInt(vocabularySize);
        }
    }

    /** SplitMix64 finaliser, so neighbouring ids get unrelated seeds. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
