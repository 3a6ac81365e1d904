package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PoolLedgerTest {

    private static PoolLedger ledger(int instances, int perInstance) {
        ServiceTimeModel anyTime = new ServiceTimeModel() { // the ledger is given each batch's estimate
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return 0.1;
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return 0.1;
            }
        };
        return new PoolLedger(new PoolProfile("p", "chip", "m", instances, 8192, 8, anyTime), perInstance);
    }

    @Test
    void anInstanceHoldingItsShareOfTheCreditsIsPassedOverWhileAnotherHasRoom() {
        PoolLedger pool = ledger(2, 2);
        assertThat(pool.add("a", 1, 10, 1.0, 0)).isZero();
        assertThat(pool.add("b", 1, 10, 100.0, 0)).as("the idle instance").isEqualTo(1);
        assertThat(pool.add("c", 1, 10, 1.0, 0)).as("backlog 1 s against 100 s").isZero();
        // 5 s later instance 0's batches are past their estimates (backlog 0) but both of its streams are still busy
        assertThat(pool.add("d", 1, 10, 1.0, 5_000)).as("instance 1 still has a free stream").isEqualTo(1);
        assertThat(pool.freeCredits()).isZero();
    }

    @Test
    void withEveryInstanceAtItsShareTheLeastBackloggedTakesTheBatch() {
        PoolLedger pool = ledger(2, 1);
        assertThat(pool.add("a", 1, 10, 1.0, 0)).isZero();
        assertThat(pool.add("b", 1, 10, 100.0, 0)).isEqualTo(1);
        // no instance has room (a batch beyond the credits, as a credit raised by another dispatcher's release may
        // briefly allow): the least backlogged instance takes it
        assertThat(pool.add("c", 1, 10, 1.0, 5_000)).isZero();
        assertThat(pool.freeCredits()).isZero();
    }
}
