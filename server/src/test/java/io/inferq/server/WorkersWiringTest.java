package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.workers.runtime.PoolWorkerSettings;
import org.junit.jupiter.api.Test;

/** How many batches a pool's worker slots keep in flight: an instance's streams plus all its fair credits at once. */
class WorkersWiringTest {

    @Test
    void aSlotHoldsItsStreamsShareOfTheInstancesBatchesAndFairCredits() {
        // 2 streams, R1's cap of 196 sequences: 2 + 196 batches on an instance, 99 per stream
        assertThat(WorkersWiring.batchesPerSlotOf(196, 2)).isEqualTo(99);
        assertThat(WorkersWiring.batchesPerSlotOf(24, 2)).isEqualTo(13);
        assertThat(WorkersWiring.batchesPerSlotOf(25, 2)).isEqualTo(14);
        assertThat(WorkersWiring.batchesPerSlotOf(1, 1)).isEqualTo(2);
        assertThat(WorkersWiring.batchesPerSlotOf(8, 0)).as("no streams configured: one").isEqualTo(9);
        assertThat(WorkersWiring.batchesPerSlotOf(Integer.MAX_VALUE, 1)).isEqualTo(PoolWorkerSettings.MAX_BATCHES_PER_SLOT);
        for (int cap = 1; cap <= 256; cap++) {
            for (int streams = 1; streams <= 8; streams++) {
                int perSlot = WorkersWiring.batchesPerSlotOf(cap, streams);
                assertThat((long) perSlot * streams).as("cap %s, %s streams", cap, streams).isGreaterThanOrEqualTo(streams + cap);
                assertThat((long) (perSlot - 1) * streams).as("cap %s, %s streams: no more than needed", cap, streams)
                        .isLessThan(streams + cap);
            }
        }
    }
}
