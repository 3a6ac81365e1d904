package io.inferq.ingress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.ingress.tenants.ActiveJobEstimate;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ActiveJobEstimateTest {
    final AtomicLong now = new AtomicLong(1_000);
    final java.time.Clock clock = new java.time.Clock() {
        @Override
        public java.time.Instant instant() {
            return java.time.Instant.ofEpochMilli(now.get());
        }

        @Override
        public java.time.ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public java.time.Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    };
    final ActiveJobEstimate estimate = new ActiveJobEstimate(clock, 100, 2_000);

    @Test
    void unknownUntilFirstReadThenCountsLocalAccepts() {
        assertThat(estimate.estimate("t")).isEqualTo(-1);
        assertThat(estimate.claimRefresh("t")).isTrue();
        assertThat(estimate.claimRefresh("t")).as("one refresh at a time").isFalse();
        estimate.refreshed("t", 7, estimate.readStart());
        assertThat(estimate.estimate("t")).isEqualTo(7);
        estimate.accepted("t", "a");
        estimate.accepted("t", "b");
        estimate.accepted("t", "b");
        assertThat(estimate.estimate("t")).isEqualTo(9);
        assertThat(estimate.estimate("other")).isEqualTo(-1);
    }

    @Test
    void anAcceptedJobCountsOnTopOfEveryReadThatStartedBeforeTheViewAppliedIt() {
        estimate.refreshed("t", 0, estimate.readStart());
        estimate.accepted("t", "a");
        now.addAndGet(100);
        estimate.refreshed("t", 0, estimate.readStart()); // the view has not applied a yet
        assertThat(estimate.estimate("t")).isEqualTo(1);
        ActiveJobEstimate.ReadStart readStartedBeforeApply = estimate.readStart();
        now.addAndGet(5);
        estimate.applied("t", "a");
        estimate.refreshed("t", 0, readStartedBeforeApply); // a read that started before: its count cannot have a
        assertThat(estimate.estimate("t")).as("never counted short").isEqualTo(1);
        now.addAndGet(1);
        estimate.refreshed("t", 1, estimate.readStart()); // a read that started after: a is in its count
        assertThat(estimate.estimate("t")).as("and never twice").isEqualTo(1);
        estimate.applied("t", "someone-elses");
        assertThat(estimate.estimate("t")).isEqualTo(1);
    }

    @Test
    void aReadOverlappingTheViewsWriteCountsTheJobOnTopAndIsUncertainUntilAReadAfterTheApply() {
        estimate.refreshed("t", 0, estimate.readStart());
        estimate.accepted("t", "a");
        assertThat(estimate.uncertain("t")).isFalse();
        estimate.applying("t", "a"); // the view is writing a: a read from now on may already hold it
        ActiveJobEstimate.ReadStart overlapping = estimate.readStart();
        now.addAndGet(100);
        estimate.refreshed("t", 1, overlapping); // this read saw the write land
        assertThat(estimate.estimate("t")).as("never counted short, so here twice").isEqualTo(2);
        assertThat(estimate.uncertain("t")).as("the caller must read again before refusing on it").isTrue();
        assertThat(estimate.claimRefresh("t")).as("an uncertain estimate is due for a read at once").isTrue();
        estimate.applied("t", "a");
        estimate.refreshed("t", 1, estimate.readStart());
        assertThat(estimate.estimate("t")).isEqualTo(1);
        assertThat(estimate.uncertain("t")).isFalse();
    }

    @Test
    void aReadThatEndedBeforeTheViewStartedWritingIsCertain() {
        estimate.refreshed("t", 0, estimate.readStart());
        estimate.accepted("t", "a");
        ActiveJobEstimate.ReadStart before = estimate.readStart();
        estimate.applying("t", "a");
        estimate.refreshed("t", 0, before);
        assertThat(estimate.estimate("t")).isEqualTo(1);
        assertThat(estimate.uncertain("t")).isFalse();
    }

    @Test
    void anApplyAndAReadInTheSameMillisecondAreStillOrdered() {
        estimate.refreshed("t", 0, estimate.readStart());
        estimate.accepted("t", "a");
        ActiveJobEstimate.ReadStart before = estimate.readStart(); // same millisecond as the apply below
        estimate.applied("t", "a");
        ActiveJobEstimate.ReadStart after = estimate.readStart(); // still the same millisecond
        estimate.refreshed("t", 0, before);
        assertThat(estimate.estimate("t")).as("a read that started before the apply cannot hold a").isEqualTo(1);
        estimate.refreshed("t", 1, after);
        assertThat(estimate.estimate("t")).as("a read that started after the apply holds a: counted once, not twice")
                .isEqualTo(1);
    }

    @Test
    void aWithdrawnAcceptIsNotCountedAndOneNeverSeenAppliedIsForgottenInTheEnd() {
        estimate.refreshed("t", 2, estimate.readStart());
        estimate.accepted("t", "failed-write");
        estimate.withdrawn("t", "failed-write");
        assertThat(estimate.estimate("t")).isEqualTo(2);
        estimate.accepted("t", "event-lost");
        now.addAndGet(ActiveJobEstimate.FORGET_AFTER_MS);
        estimate.refreshed("t", 2, estimate.readStart());
        assertThat(estimate.estimate("t")).as("still within the window").isEqualTo(3);
        now.addAndGet(1);
        estimate.refreshed("t", 2, estimate.readStart());
        assertThat(estimate.estimate("t")).isEqualTo(2);
    }

    @Test
    void refreshIsDueAfterTheIntervalAndAnOlderReadNeverReplacesANewerOne() {
        estimate.refreshed("t", 3, estimate.readStart());
        assertThat(estimate.claimRefresh("t")).as("read 0 ms ago").isFalse();
        now.addAndGet(100);
        assertThat(estimate.claimRefresh("t")).isTrue();
        ActiveJobEstimate.ReadStart older = estimate.readStart();
        estimate.refreshed("t", 5, estimate.readStart());
        assertThat(estimate.estimate("t")).isEqualTo(5);
        estimate.refreshed("t", 1, older);
        assertThat(estimate.estimate("t")).as("an older read never replaces a newer one").isEqualTo(5);
    }

    @Test
    void aFailedRefreshCanBeRetriedAndAStaleReadIsNotUsed() {
        estimate.refreshed("t", 4, estimate.readStart());
        now.addAndGet(150);
        assertThat(estimate.claimRefresh("t")).isTrue();
        estimate.refreshFailed("t");
        assertThat(estimate.claimRefresh("t")).isTrue();
        assertThat(estimate.estimate("t")).as("150 ms old: still usable").isEqualTo(4);
        now.addAndGet(2_000);
        assertThat(estimate.estimate("t")).as("older than the max age").isEqualTo(-1);
    }

    @Test
    void rejectsInconsistentSettings() {
        assertThatThrownBy(() -> new ActiveJobEstimate(clock, 0, 10)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ActiveJobEstimate(clock, 100, 10)).isInstanceOf(IllegalArgumentException.class);
    }
}
