package io.inferq.kvcache.resp;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class InflightBudgetTest {

    @Test
    void aReservationThatDoesNotFitWaitsForARelease() {
        InflightBudget b = new InflightBudget(100);
        AtomicInteger woken = new AtomicInteger();
        assertThat(b.reserveOrAwait(60, woken::incrementAndGet)).isTrue();
        assertThat(b.reserveOrAwait(60, woken::incrementAndGet)).isFalse();
        assertThat(woken).hasValue(0);
        b.release(60);
        assertThat(woken).hasValue(1);
        assertThat(b.reserveOrAwait(60, woken::incrementAndGet)).isTrue();
        assertThat(b.used()).isEqualTo(60);
    }

    @Test
    void oneRequestLargerThanTheBudgetFitsWhenNothingElseIsHeld() {
        InflightBudget b = new InflightBudget(100);
        assertThat(b.reserveOrAwait(500, () -> { })).isTrue();
        b.force(10);
        assertThat(b.used()).isEqualTo(510);
        b.release(510);
        assertThat(b.used()).isZero();
    }
}
