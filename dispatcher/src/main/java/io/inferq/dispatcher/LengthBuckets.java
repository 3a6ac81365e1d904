package io.inferq.dispatcher;

import java.util.Arrays;

/**
 * Prompt-length buckets given by ascending inclusive upper edges. With edges {@code [512, 2048]} the
 * buckets are {@code [1,512]}, {@code [513,2048]} and {@code [2049, ∞)}: the last bucket is always open,
 * so every prompt has a bucket. Jobs of one batch always share a bucket, which bounds padding waste.
 * Immutable and thread-safe.
 */
public final class LengthBuckets {

    private final int[] upperEdges;

    private LengthBuckets(int[] upperEdges) {
        this.upperEdges = upperEdges;
    }

    /**
     * @param upperEdges strictly ascending, positive inclusive upper edges (may be empty: one open bucket)
     * @throws IllegalArgumentException naming the setting {@code lengthBuckets} when the edges are invalid
     */
    public static LengthBuckets of(int... upperEdges) {
        int[] edges = upperEdges.clone();
        for (int i = 0; i < edges.length; i++) {
            if (edges[i] < 1) {
                throw new IllegalArgumentException("lengthBuckets edges must be positive, edge " + i + " was " + edges[i]);
            }
            if (edges[i] == Integer.MAX_VALUE) {
                throw new IllegalArgumentException("lengthBuckets edges must be below Integer.MAX_VALUE (the last bucket is open)");
            }
            if (i > 0 && edges[i] <= edges[i - 1]) {
                throw new IllegalArgumentException("lengthBuckets edges must be strictly ascending, got "
                        + Arrays.toString(edges));
            }
        }
        return new LengthBuckets(edges);
    }

    /** Powers-of-two-ish edges suited to chat traffic: 256, 512, 1k, 2k, 4k, 8k, 16k, 32k tokens. */
    public static LengthBuckets defaults() {
        return of(256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
    }

    /** Number of buckets (edges + 1). */
    public int count() {
        return upperEdges.length + 1;
    }

    /** Index of the bucket holding a prompt of {@code promptTokens} tokens. */
    public int bucketOf(int promptTokens) {
        int idx = Arrays.binarySearch(upperEdges, promptTokens);
        return idx >= 0 ? idx : -idx - 1;
    }

    /** Inclusive upper edge of bucket {@code index}; {@link Integer#MAX_VALUE} for the last (open) bucket. */
    public int upperTokens(int index) {
        if (index < 0 || index >= count()) {
            throw new IndexOutOfBoundsException("bucket index " + index + " outside [0," + count() + ")");
        }
        return index == upperEdges.length ? Integer.MAX_VALUE : upperEdges[index];
    }

    /** The edges, ascending (a copy). */
    public int[] upperEdges() {
        return upperEdges.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LengthBuckets other && Arrays.equals(upperEdges, other.upperEdges);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(upperEdges);
    }

    @Override
    public String toString() {
        return "LengthBuckets" + Arrays.toString(upperEdges);
    }
}
