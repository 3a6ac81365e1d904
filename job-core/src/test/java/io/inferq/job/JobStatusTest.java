package io.inferq.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class JobStatusTest {

    @Property
    void terminalStatesAreAbsorbing(@ForAll JobStatus from, @ForAll JobStatus to) {
        if (from.isTerminal()) {
            assertThat(from.canMoveTo(to)).isFalse();
        }
    }

    @Property
    void everyNonTerminalStateCanReachATerminalOne(@ForAll JobStatus from) {
        if (!from.isTerminal()) {
            assertThat(JobStatus.values()).anyMatch(to -> to.isTerminal() && from.canMoveTo(to));
        }
    }

    @Property
    void aReaderTakesEveryLegalMoveAndTheFirstOutcomeFromAnyUnfinishedStateOnly(@ForAll JobStatus from, @ForAll JobStatus to) {
        boolean expected = from.canMoveTo(to) || !from.isTerminal() && to.isTerminal();
        assertThat(from.canBeFollowedBy(to)).isEqualTo(expected);
        if (from.isTerminal()) {
            assertThat(from.canBeFollowedBy(to)).as("terminal states stay absorbing for readers").isFalse();
        }
    }

    @Test
    void anOutcomeThatOvertookTheInformationalEventsIsTakenByReaders() {
        assertThat(JobStatus.QUEUED.canMoveTo(JobStatus.SUCCEEDED)).isFalse();
        assertThat(JobStatus.QUEUED.canBeFollowedBy(JobStatus.SUCCEEDED)).as("running and dispatched still on their way").isTrue();
        assertThat(JobStatus.RUNNING.canBeFollowedBy(JobStatus.EXPIRED)).as("a batch window ended a running line").isTrue();
        assertThat(JobStatus.SUCCEEDED.canBeFollowedBy(JobStatus.RUNNING)).as("a late running event").isFalse();
        assertThat(JobStatus.RUNNING.canBeFollowedBy(JobStatus.DISPATCHED)).isFalse();
    }

    @Test
    void theHappyPathIsLegalAndASecondOutcomeIsNot() {
        JobStatus s = JobStatus.QUEUED.moveTo("j", JobStatus.DISPATCHED)
                .moveTo("j", JobStatus.RUNNING).moveTo("j", JobStatus.SUCCEEDED);
        assertThat(s).isEqualTo(JobStatus.SUCCEEDED);
        assertThatThrownBy(() -> JobStatus.SUCCEEDED.moveTo("j", JobStatus.CANCELLED))
                .isInstanceOf(IllegalJobTransitionException.class)
                .hasMessage("job j cannot move from succeeded to cancelled");
        assertThat(JobStatus.RUNNING.canMoveTo(JobStatus.EXPIRED)).as("a started job never expires").isFalse();
    }

    @Test
    void apiNamesRoundTrip() {
        for (JobStatus s : JobStatus.values()) {
            assertThat(JobStatus.fromApiName(s.apiName())).isEqualTo(s);
            assertThat(JobStatus.fromWire(s.toWire())).isEqualTo(s);
        }
        assertThat(JobStatus.fromApiName("done")).isNull();
    }
}
