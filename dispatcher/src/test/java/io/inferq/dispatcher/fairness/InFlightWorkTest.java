package io.inferq.dispatcher.fairness;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class InFlightWorkTest {

    private final InFlightWork work = new InFlightWork(FairnessConfig.defaults().withTenantWeights(Map.of("gold", 3.0)));

    @Test
    void aTenantAloneIsNeverBelowItsShare() {
        assertThat(work.belowShare("m", "light", 10)).isFalse();
        work.dispatched("b1", "m", Map.of("light", 100L));
        assertThat(work.belowShare("m", "light", 10)).isFalse();
    }

    @Test
    void theShareIsCountedInWorkAndWeighted() {
        work.dispatched("h1", "m", Map.of("heavy", 1_000L));
        // light: (0 + w) ≤ (1000 + w) / 2  ⇔  w ≤ 1000
        assertThat(work.belowShare("m", "light", 1_000)).isTrue();
        assertThat(work.belowShare("m", "light", 1_001)).isFalse();
        // gold (weight 3): w / 3 ≤ (1000 + w) / 4  ⇔  w ≤ 3000
        assertThat(work.belowShare("m", "gold", 3_000)).isTrue();
        assertThat(work.belowShare("m", "gold", 3_001)).isFalse();
        // many small batches of light stay below its share as long as their work does
        for (int i = 0; i < 9; i++) {
            work.dispatched("l" + i, "m", Map.of("light", 100L));
        }
        assertThat(work.belowShare("m", "light", 100)).isTrue();
        assertThat(work.belowShare("m", "light", 101)).isFalse();
        // other models are separate
        assertThat(work.belowShare("other", "light", 1)).isFalse();
    }

    @Test
    void finishedBatchesStopCountingOnce() {
        work.dispatched("h1", "m", Map.of("heavy", 1_000L));
        work.dispatched("x", "m", Map.of("light", 600L, "heavy", 400L));
        assertThat(work.inFlight("m", "heavy")).isEqualTo(1_400);
        assertThat(work.inFlight("m", "light")).isEqualTo(600);
        work.dispatched("x", "m", Map.of("light", 600L)); // the same batch again is not counted twice
        assertThat(work.inFlight("m", "light")).isEqualTo(600);
        work.finished("x");
        work.finished("x");
        work.finished("unknown");
        assertThat(work.inFlight("m", "heavy")).isEqualTo(1_000);
        assertThat(work.inFlight("m", "light")).isZero();
    }
}
