package io.inferq.kvcache.index;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.kvcache.TestHazelcast;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class HazelcastPrefixIndexTest extends PrefixIndexContract {

    @Override
    PrefixIndex newIndex() {
        return HazelcastPrefixIndex.create(TestHazelcast.member(), "prefix-index-" + UUID.randomUUID(), 10_000);
    }

    @Test
    void mapIsBoundedWithEviction() {
        var cfg = HazelcastPrefixIndex.mapConfig("x", 500);
        assertThat(cfg.getEvictionConfig().getSize()).isEqualTo(500);
        assertThat(cfg.getEvictionConfig().getMaxSizePolicy()).isEqualTo(com.hazelcast.config.MaxSizePolicy.PER_NODE);
        String name = "prefix-index-small-" + UUID.randomUUID();
        PrefixIndex small = HazelcastPrefixIndex.create(TestHazelcast.member(), name, 200);
        for (long i = 0; i < 2_000; i += 100) {
            List<Long> batch = new java.util.ArrayList<>();
            for (long j = i; j < i + 100; j++) {
                batch.add(j);
            }
            small.recordStored(W1, batch);
        }
        assertThat(TestHazelcast.member().getMap(name).size()).isLessThanOrEqualTo(400).isPositive();
    }

    @Test
    void aShutDownInstanceAnswersNothingInsteadOfThrowing() {
        HazelcastInstance lone = TestHazelcast.standaloneMember();
        PrefixIndex doomed = HazelcastPrefixIndex.create(lone, "doomed", 1000);
        doomed.recordStored(W1, List.of(1L, 2L));
        assertThat(doomed.longestPrefixByWorker(List.of(1L, 2L))).containsKey("w1");
        lone.shutdown();
        doomed.recordStored(W1, List.of(3L));
        doomed.recordEvicted(W1, List.of(1L));
        assertThat(doomed.longestPrefixByWorker(List.of(1L, 2L))).isEmpty();
    }
}
