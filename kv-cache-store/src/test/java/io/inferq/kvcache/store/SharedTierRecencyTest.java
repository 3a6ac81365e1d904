package io.inferq.kvcache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The member's exact LRU over whole blocks, with the deleter and executor under test control. */
class SharedTierRecencyTest {

    final List<String> deleted = new ArrayList<>();
    final List<Runnable> scheduled = new ArrayList<>();

    SharedTierRecency recency(long maxChunks) {
        return new SharedTierRecency(maxChunks, scheduled::add, deleted::addAll);
    }

    static String head(int block) {
        return new BlockKey(0xabcL, block).chunkKey(0);
    }

    void runScheduled() {
        while (!scheduled.isEmpty()) {
            scheduled.remove(0).run();
        }
    }

    @Test
    void evictsTheLeastRecentlyUsedWholeBlocksOnceOverTheBound() {
        SharedTierRecency r = recency(10);
        r.touch(head(1), 4);
        r.touch(head(2), 4);
        assertThat(scheduled).isEmpty();
        r.touch(head(1), 4);                       // block 1 used again: block 2 is now the eldest
        r.touch(head(3), 2);                       // exactly at the bound: nothing to do
        assertThat(scheduled).isEmpty();
        r.touch(head(4), 1);                       // 11 > 10
        assertThat(scheduled).hasSize(1);
        r.touch(head(5), 1);                       // eviction already scheduled: not scheduled twice
        assertThat(scheduled).hasSize(1);
        runScheduled();
        BlockKey two = new BlockKey(0xabcL, 2);
        assertThat(deleted).containsExactly(two.chunkKey(0), two.chunkKey(1), two.chunkKey(2), two.chunkKey(3));
        assertThat(r.chunks()).isEqualTo(8);
        assertThat(r.contains(head(1))).isTrue();
        assertThat(r.contains(head(2))).isFalse();
        assertThat(r.evictedBlocks()).isEqualTo(1);
        assertThat(r.evictedChunks()).isEqualTo(4);
    }

    @Test
    void reTouchingABlockDoesNotCountItTwice() {
        SharedTierRecency r = recency(5);
        for (int i = 0; i < 100; i++) {
            r.touch(head(1), 3);
        }
        assertThat(r.chunks()).isEqualTo(3);
        assertThat(r.blocks()).isEqualTo(1);
        assertThat(scheduled).isEmpty();
    }

    @Test
    void aFailingDeleterDoesNotStopEvictionOrLeaveItScheduled() {
        List<Runnable> later = new ArrayList<>();
        SharedTierRecency r = new SharedTierRecency(1, later::add, keys -> {
            throw new IllegalStateException("member gone");
        });
        r.touch(head(1), 1);
        r.touch(head(2), 1);
        later.remove(0).run();
        assertThat(r.chunks()).isEqualTo(1);
        r.touch(head(3), 1);
        assertThat(later).hasSize(1);              // scheduled again after the failed round
        r.forget(head(3));
        assertThat(r.chunks()).isEqualTo(1);
        assertThatThrownBy(() -> recency(0)).hasMessageContaining("maxChunks must be positive");
    }
}
