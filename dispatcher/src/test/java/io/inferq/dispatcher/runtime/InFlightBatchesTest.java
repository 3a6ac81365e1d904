package io.inferq.dispatcher.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InFlightBatchesTest {

    @Test
    void aBatchFinishesWhenItsLastJobLeavesAndAJobLeavesOnlyOnce() {
        InFlightBatches b = new InFlightBatches();
        b.sent("p-1", "p", List.of("j1", "j2"), 0);
        assertThat(b.left("j1", "p-1")).isNull();
        assertThat(b.left("j1", "p-1")).as("the same report read again").isNull();
        assertThat(b.outstanding("p-1")).isEqualTo(1);
        assertThat(b.left("j2", "p-9")).as("a report for another batch").isNull();
        assertThat(b.left("j2", "p-1")).isEqualTo(new InFlightBatches.Finished("p", "p-1"));
        assertThat(b.size()).isZero();
        assertThat(b.terminal("j2")).as("a finished batch is not finished again").isEmpty();
    }

    @Test
    void eachBatchOfAnInstanceTakesAStreamNoOtherInFlightBatchOfThatInstanceHolds() {
        InFlightBatches b = new InFlightBatches();
        assertThat(b.freeStream("p", 1, 3)).isZero();
        b.sent("p-1", "p", 1, 0, List.of("j1"), 0);
        b.sent("q-1", "q", 1, 1, List.of("j2"), 0); // another pool's instance 1
        b.sent("p-2", "p", 0, 1, List.of("j3"), 0); // another instance of the pool
        assertThat(b.freeStream("p", 1, 3)).isEqualTo(1);
        b.sent("p-3", "p", 1, 1, List.of("j4"), 0);
        assertThat(b.freeStream("p", 1, 3)).isEqualTo(2);
        b.sent("p-4", "p", 1, 2, List.of("j5"), 0);
        assertThat(b.freeStream("p", 1, 3)).as("every stream taken: the one holding fewest, lowest first").isZero();
        assertThat(b.left("j4", "p-3")).isNotNull();
        assertThat(b.freeStream("p", 1, 3)).as("the stream of a finished batch is free again").isEqualTo(1);
        b.forget("p-1");
        assertThat(b.freeStream("p", 1, 3)).isZero();
        assertThat(b.freeStream("p", 1, 1)).as("one stream per instance").isZero();
    }

    @Test
    void aTerminalJobLeavesEveryBatchHoldingIt() {
        InFlightBatches b = new InFlightBatches();
        b.sent("p-1", "p", List.of("j1"), 0);
        b.sent("q-1", "q", List.of("j1", "j3"), 10);
        assertThat(b.terminal("j1")).containsExactly(new InFlightBatches.Finished("p", "p-1"));
        assertThat(b.outstanding("q-1")).isEqualTo(1);
        assertThat(b.terminal("j1")).isEmpty();
    }

    @Test
    void theAuditSeesOnlyBatchesOldEnoughAndAtMostTheLimit() {
        InFlightBatches b = new InFlightBatches();
        b.sent("p-1", "p", List.of("j1", "j2"), 0);
        b.sent("p-2", "p", List.of("j3"), 100);
        b.sent("p-3", "p", List.of("j2"), 50);
        assertThat(b.outstandingSince(60, 10)).isEqualTo(Map.of("j1", List.of("p-1"), "j2", List.of("p-1", "p-3")));
        assertThat(b.outstandingSince(100, 2)).containsOnlyKeys("j1", "j2");
        b.forget("p-1");
        assertThat(b.outstandingSince(1_000, 10)).isEqualTo(Map.of("j2", List.of("p-3"), "j3", List.of("p-2")));
        assertThat(b.terminal("j1")).isEmpty();
    }

    @Test
    void aFinishedBatchCarriesItsJobsLatestFirstTokenOnlyWhenEveryJobReportedOne() {
        InFlightBatches b = new InFlightBatches();
        b.sent("p-1", "p", List.of("j1", "j2"), 0);
        assertThat(b.terminal("j2", true, 1_700)).isEmpty();
        assertThat(b.terminal("j1", true, 1_200)).containsExactly(new InFlightBatches.Finished("p", "p-1", true, 1_700));
        b.sent("p-2", "p", List.of("j3", "j4"), 0);
        assertThat(b.terminal("j3", true, 1_200)).isEmpty();
        assertThat(b.terminal("j4", false, Long.MIN_VALUE))
                .containsExactly(new InFlightBatches.Finished("p", "p-2", false, Long.MIN_VALUE));
        b.sent("p-3", "p", List.of("j5", "j6"), 0);
        assertThat(b.left("j5", "p-3")).as("handed back: no first token").isNull();
        assertThat(b.terminal("j6", true, 900)).containsExactly(new InFlightBatches.Finished("p", "p-3", false, Long.MIN_VALUE));
    }
}
