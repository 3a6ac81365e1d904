package io.inferq.kvcache.hashing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import net.openhft.hashing.LongHashFunction;

/**
 * Chained hashes of the full blocks of a token sequence, exactly as DESIGN.md ("KV cache for MLA"):
 * <pre>
 * local_i = XXH3_64(u32-LE tokens of block i, seed)
 * seq_0   = local_0
 * seq_i   = XXH3_64(le64(seq_{i-1}) ‖ le64(local_i), seed)
 * </pre>
 * Only full blocks are hashed: a sequence of {@code n} tokens has {@code n / blockSize} hashes, and the
 * trailing {@code n % blockSize} tokens are never cached. {@code seq_i} identifies the whole prefix up
 * to and including block {@code i}, so two sequences share {@code seq_i} only if they share every token
 * of blocks {@code 0..i} (up to 64-bit collisions).
 *
 * <p>Immutable and thread-safe (each call allocates its own small buffers).
 */
public final class BlockHasher {

    /** The default block size (FlashMLA's page size). */
    public static final int DEFAULT_BLOCK_SIZE = 64;

    private final LongHashFunction xxh3;
    private final int blockSize;

    /**
     * @param seed      from {@link HashSeed#derive}
     * @param blockSize tokens per block, positive
     */
    public BlockHasher(HashSeed seed, int blockSize) {
        Objects.requireNonNull(seed, "seed must not be null");
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, was " + blockSize);
        }
        this.xxh3 = LongHashFunction.xx3(seed.value());
        this.blockSize = blockSize;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Chained hashes {@code seq_0 .. seq_{k-1}} of the {@code k = tokens.length / blockSize} full blocks. */
    public List<Long> blockHashes(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens must not be null");
        int blocks = tokens.length / blockSize;
        List<Long> out = new ArrayList<>(blocks);
        byte[] blockBytes = new byte[blockSize * Integer.BYTES];
        byte[] pair = new byte[2 * Long.BYTES];
        long seq = 0;
        for (int b = 0; b < blocks; b++) {
            long local = localHash(tokens, b * blockSize, blockBytes);
            seq = b == 0 ? local : chain(seq, local, pair);
            out.add(seq);
        }
        return Collections.unmodifiableList(out);
    }

    /** {@code local_i}: XXH3 of the u32-LE encoding of {@code blockSize} tokens starting at {@code from}. */
    public long localHash(int[] tokens, int from) {
        Objects.checkFromIndexSize(from, blockSize, tokens.length);
        return localHash(tokens, from, new byte[blockSize * Integer.BYTES]);
    }

    /** {@code XXH3_64(le64(previous) ‖ le64(local), seed)}. */
    public long chain(long previous, long local) {
        return chain(previous, local, new byte[2 * Long.BYTES]);
    }

    private long localHash(int[] tokens, int from, byte[] buf) {
        for (int i = 0; i < blockSize; i++) {
            int t = tokens[from + i];
            int o = i * Integer.BYTES;
            buf[o] = (byte) t;
            buf[o + 1] = (byte) (t >>> 8);
            buf[o + 2] = (byte) (t >>> 16);
            buf[o + 3] = (byte) (t >>> 24);
        }
        return xxh3.hashBytes(buf);
    }

    private long chain(long previous, long local, byte[] buf) {
        putLongLe(buf, 0, previous);
        putLongLe(buf, Long.BYTES, local);
        return xxh3.hashBytes(buf);
    }

    private static void putLongLe(byte[] buf, int offset, long v) {
        for (int i = 0; i < Long.BYTES; i++) {
            buf[offset + i] = (byte) (v >>> (8 * i));
        }
    }
}
