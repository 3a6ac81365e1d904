package io.inferq.ingress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.ingress.tenants.ActiveJobEstimate;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ActiveJobEstimateTest {
    final AtomicLong now = new AtomicLong(1_000);
    final ActiveJobEstimate estimate = new ActiveJobEstimate(now::get, 100, 2_000);

    @Test
    void unknownUntilFirstReadThenCountsLocalAccepts() {
        assertThat(estimate.estimate("t")).isEqualTo(-1);
        assertThat(estimate.claimRefresh("t")).isTrue();
        assertThat(estimate.claimRefresh("t")).as("one refresh at a time").isFalse();
        estimate.refreshed("t", 7, now.get());
        assertThat(estimate.estimate("t")).isEqualTo(7);
        estimate.accepted("t", "a");
        estimate.accepted("t", "b");
        estimate.accepted("t", "b");
        assertThat(estimate.estimate("t")).isEqualTo(9);
        assertThat(estimate.estimate("other")).isEqualTo(-1);
    }

    @Test
    void anAcceptedJobCountsOnTopOfEveryReadThatStartedBeforeTheViewAppliedIt() {
        estimate.refreshed("t", 0, now.get());
        estimate.accepted("t", "a");
        now.addAndGet(100);
        estimate.refreshed("t", 0, now.get()); // the view has not applied a yet
        assertThat(estimate.estimate("t")).isEqualTo(1);
        long readStartedBeforeApply = now.get() + 2;
        now.addAndGet(5);
        estimate.applied("t", "a");
        estimate.refreshed("t", 0, readStartedBeforeApply); // a read that started before: its count cannot have a
        assertThat(estimate.estimate("t")).as("never counted short").isEqualTo(1);
        now.addAndGet(1);
        estimate.refreshed("t", 1, now.get()); // a read that started after: a is in its count
        assertThat(estimate.estimate("t")).as("and never twice").isEqualTo(1);
        estimate.applied("t", "someone-elses");
        assertThat(estimate.estimate("t")).isEqualTo(1);
    }

    @Test
    void aWithdrawnAcceptIsNotCountedAndOneNeverSeenAppliedIsForgottenInTheEnd() {
        estimate.refreshed("t", 2, now.get());
        estimate.accepted("t", "failed-write");
        estimate.withdrawn("t", "failed-write");
        assertThat(estimate.estimate("t")).isEqualTo(2);
        estimate.accepted("t", "event-lost");
        now.addAndGet(ActiveJobEstimate.FORGET_AFTER_MS);
        estimate.refreshed("t", 2, now.get());
        assertThat(estimate.estimate("t")).as("still within the window").isEqualTo(3);
        now.addAndGet(1);
        estimate.refreshed("t", 2, now.get());
        assertThat(estimate.estimate("t")).isEqualTo(2);
    }

    @Test
    void refreshIsDueAfterTheIntervalAndAnOlderReadNeverReplacesANewerOne() {
        estimate.refreshed("t", 3, now.get());
        assertThat(estimate.claimRefresh("t")).as("read 0 ms ago").isFalse();
        now.addAndGet(100);
        assertThat(estimate.claimRefresh("t")).isTrue();
        estimate.refreshed("t", 5, now.get());
        assertThat(estimate.estimate("t")).isEqualTo(5);
        estimate.refreshed("t", 1, now.get() - 50);
        assertThat(estimate.estimate("t")).as("an older read never replaces a newer one").isEqualTo(5);
    }

    @Test
    void aFailedRefreshCanBeRetriedAndAStaleReadIsNotUsed() {
        estimate.refreshed("t", 4, now.get());
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
        assertThatThrownBy(() -> new ActiveJobEstimate(now::get, 0, 10)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ActiveJobEstimate(now::get, 100, 10)).isInstanceOf(IllegalArgumentException.class);
    }
}
