package io.inferq.kvcache.index;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The behaviour every {@link PrefixIndex} must have; run against each implementation. */
abstract class PrefixIndexContract {

    static final BlockHolder W1 = new BlockHolder("w1", "poolA");
    static final BlockHolder W2 = new BlockHolder("w2", "poolA");
    static final BlockHolder W3 = new BlockHolder("w3", "poolB");

    PrefixIndex index;

    /** A fresh, empty index with room for at least 10,000 hashes. */
    abstract PrefixIndex newIndex();

    @BeforeEach
    void setUp() {
        index = newIndex();
    }

    @Test
    void emptyIndexHoldsNothing() {
        assertThat(index.longestPrefixByWorker(List.of(1L, 2L, 3L))).isEmpty();
        assertThat(index.longestPrefixByWorker(List.of())).isEmpty();
    }

    @Test
    void longestLeadingRunPerWorker() {
        index.recordStored(W1, List.of(1L, 2L, 3L));
        index.recordStored(W2, List.of(1L, 2L));
        index.recordStored(W3, List.of(2L, 3L));        // no block 0: no prefix
        Map<String, PrefixMatch> m = index.longestPrefixByWorker(List.of(1L, 2L, 3L, 4L));
        assertThat(m).containsOnlyKeys("w1", "w2");
        assertThat(m.get("w1")).isEqualTo(new PrefixMatch(W1, 3));
        assertThat(m.get("w2")).isEqualTo(new PrefixMatch(W2, 2));
    }

    @Test
    void aGapEndsTheRun() {
        index.recordStored(W1, List.of(1L, 3L, 4L));
        assertThat(index.longestPrefixByWorker(List.of(1L, 2L, 3L, 4L)).get("w1").leadingBlocks()).isEqualTo(1);
    }

    @Test
    void evictionShortensTheRunAndIsIdempotent() {
        index.recordStored(W1, List.of(1L, 2L, 3L));
        index.recordStored(W1, List.of(1L, 2L, 3L));
        index.recordEvicted(W1, List.of(2L));
        index.recordEvicted(W1, List.of(2L));
        assertThat(index.longestPrefixByWorker(List.of(1L, 2L, 3L)).get("w1").leadingBlocks()).isEqualTo(1);
        index.recordEvicted(W1, List.of(1L));
        assertThat(index.longestPrefixByWorker(List.of(1L, 2L, 3L))).isEmpty();
    }

    @Test
    void evictingOneHolderKeepsTheOthers() {
        index.recordStored(W1, List.of(1L, 2L));
        index.recordStored(W3, List.of(1L, 2L));
        index.recordEvicted(W1, List.of(2L));
        Map<String, PrefixMatch> m = index.longestPrefixByWorker(List.of(1L, 2L));
        assertThat(m.get("w1").leadingBlocks()).isEqualTo(1);
        assertThat(m.get("w3").leadingBlocks()).isEqualTo(2);
    }

    @Test
    void bestRunPerPool() {
        index.recordStored(W1, List.of(1L));
        index.recordStored(W2, List.of(1L, 2L, 3L));
        index.recordStored(W3, List.of(1L, 2L));
        assertThat(index.longestPrefixByPool(List.of(1L, 2L, 3L))).containsExactlyInAnyOrderEntriesOf(
                Map.of("poolA", 3, "poolB", 2));
    }

    @Test
    void longPrefixesSpanLookupBatches() {
        List<Long> hashes = new java.util.ArrayList<>();
        for (long i = 0; i < 300; i++) {
            hashes.add(1000 + i);
        }
        index.recordStored(W1, hashes);
        index.recordStored(W2, hashes.subList(0, 130));
        Map<String, PrefixMatch> m = index.longestPrefixByWorker(hashes);
        assertThat(m.get("w1").leadingBlocks()).isEqualTo(300);
        assertThat(m.get("w2").leadingBlocks()).isEqualTo(130);
    }

    @Test
    void evictingUnknownBlocksIsHarmless() {
        index.recordEvicted(W1, List.of(77L));
        index.recordStored(W1, List.of());
        assertThat(index.longestPrefixByWorker(List.of(77L))).isEmpty();
    }
}
