package io.inferq.kvcache.index;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class InMemoryPrefixIndexTest extends PrefixIndexContract {

    @Override
    PrefixIndex newIndex() {
        return new InMemoryPrefixIndex(10_000);
    }

    @Test
    void isBoundedWithLruEviction() {
        InMemoryPrefixIndex small = new InMemoryPrefixIndex(2);
        small.recordStored(W1, List.of(1L, 2L));
        small.longestPrefixByWorker(List.of(1L));          // touches 1
        small.recordStored(W1, List.of(3L));               // evicts 2
        assertThat(small.size()).isEqualTo(2);
        assertThat(small.longestPrefixByWorker(List.of(1L, 2L)).get("w1").leadingBlocks()).isEqualTo(1);
        assertThatThrownBy(() -> new InMemoryPrefixIndex(0)).hasMessageContaining("maxEntries must be positive");
    }
}
