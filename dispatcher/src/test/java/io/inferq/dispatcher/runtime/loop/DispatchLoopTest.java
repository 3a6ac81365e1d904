package io.inferq.dispatcher.runtime.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.Admission;
import io.inferq.dispatcher.BatchPlan;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.LengthBuckets;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.QueuedJob;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.ServiceTimeModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The one dispatch loop with a fake clock and recording effects: what the service and the simulator both run.
 * Time only moves when the test moves it; the loop asks for wake-ups, it never polls.
 */
class DispatchLoopTest {

    /** prefill 1000 tokens/s, decode 0.01 s per step. */
    private static final ServiceTimeModel LINEAR = new ServiceTimeModel() {
        @Override
        public double prefillSeconds(int uncachedPromptTokens) {
            return uncachedPromptTokens / 1000.0;
        }

        @Override
        public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
            return outputTokens * 0.01;
        }
    };

    private final List<String> log = new ArrayList<>();
    private final List<BatchPlan> sent = new ArrayList<>();
    private final List<Long> wakeups = new ArrayList<>();

    private DispatchLoop<String> loop(DispatchConfig cfg, int instances) {
        DispatchScheduler s = new DispatchScheduler(cfg, List.of(new PoolProfile("p", "chip", "m", instances, 1000, 4, LINEAR)),
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        return new DispatchLoop<>(s, new DispatchLoop.Effects<>() {
            @Override
            public void send(BatchPlan plan, List<QueuedJob> jobs, List<String> handles, long nowMs) {
                sent.add(plan);
                log.add("send " + handles + " @" + nowMs);
            }

            @Override
            public void expired(QueuedJob job, String handle, long nowMs) {
                log.add("expired " + handle + " @" + nowMs);
            }

            @Override
            public void refused(QueuedJob job, String handle, Admission.Rejected why, long nowMs) {
                log.add("refused " + handle + " " + why.code());
            }
        }, wakeups::add, 4);
    }

    private static DispatchConfig config() {
        return DispatchConfig.defaults().withLengthBuckets(LengthBuckets.of(100, 1000)).withMaxWaits(10, 100)
                .withMaxInFlightBatchesPerInstance(1).withDispatchToIdleInstances(false);
    }

    private static QueuedJob job(String id, String tenant, int prompt, int out, long at, Long deadline) {
        return new QueuedJob(id, tenant, "m", JobLane.INTERACTIVE, prompt, out, at, deadline, List.of());
    }

    @Test
    void aPartialBatchGoesAtItsMaxWaitOnTheWakeupItAskedFor() {
        DispatchLoop<String> loop = loop(config(), 1);
        assertThat(loop.offer(job("a", "t", 50, 10, 0, null), "A", 0)).isEqualTo(DispatchLoop.Offer.QUEUED);
        loop.decide(0);
        assertThat(sent).isEmpty();
        assertThat(wakeups).containsExactly(10L); // interactive max wait 10 ms: the next decision time, no poll
        loop.wake(10);
        assertThat(log).containsExactly("send [A] @10");
        assertThat(loop.wakeAtMs()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void aTimerThatFiresEarlyIsArmedAgain() {
        DispatchLoop<String> loop = loop(config().withMaxWaits(5_000, 5_000), 1);
        loop.offer(job("a", "t", 50, 10, 0, null), "A", 0);
        loop.decide(0);
        assertThat(wakeups).containsExactly(5_000L);
        loop.wake(1_000); // the service caps its timers at 1 s
        assertThat(wakeups).containsExactly(5_000L, 5_000L);
        loop.wake(5_000);
        assertThat(log).containsExactly("send [A] @5000");
    }

    @Test
    void aFreedCreditSendsHeldWorkAtOnce() {
        DispatchLoop<String> loop = loop(config(), 1);
        for (String id : List.of("a", "b", "c", "d", "e")) {
            loop.offer(job(id, "t", 50, 10, 0, null), id.toUpperCase(), 0);
        }
        loop.decide(0); // a full batch of 4: sent; one credit only, so 'e' waits
        assertThat(sent).hasSize(1);
        loop.wake(10);
        assertThat(sent).as("no credit: nothing more at the max wait").hasSize(1);
        loop.batchFinished("p", sent.get(0).batchId(), 500, true);
        assertThat(log).last().isEqualTo("send [E] @500");
    }

    @Test
    void admissionRunsOnEveryOfferQuotaAndDeadline() {
        DispatchLoop<String> loop = loop(config().withTenantQuotas(1_000, Map.of()), 1);
        loop.offer(job("a", "t1", 500, 400, 0, null), "A", 0);
        assertThat(loop.offer(job("b", "t1", 100, 100, 0, null), "B", 0)).isEqualTo(DispatchLoop.Offer.REFUSED);
        assertThat(loop.offer(job("c", "t2", 100, 100, 0, null), "C", 0)).isEqualTo(DispatchLoop.Offer.QUEUED);
        for (int i = 0; i < 40; i++) {
            loop.offer(job("q" + i, "t" + (10 + i), 100, 100, 0, null), "Q" + i, 0);
        }
        // 40 × 200 work tokens ahead of it, a full batch of 4 × 200 takes 1.4 s: a 1 s deadline is out of reach
        assertThat(loop.offer(job("late", "t9", 100, 100, 0, 1_000L), "LATE", 0)).isEqualTo(DispatchLoop.Offer.REFUSED);
        assertThat(log).containsExactly("refused B " + Admission.CODE_TENANT_QUOTA, "refused LATE " + Admission.CODE_DEADLINE);
        assertThat(loop.offer(job("huge", "t3", 5_000, 1, 0, null), "HUGE", 0)).isEqualTo(DispatchLoop.Offer.REFUSED);
        assertThat(log).last().isEqualTo("refused HUGE " + Admission.CODE_PROMPT_TOO_LONG);
    }

    @Test
    void aQueuedJobPastItsDeadlineExpiresAtTheWakeupForIt() {
        DispatchLoop<String> loop = loop(config().withMaxWaits(10_000, 10_000), 1);
        loop.offer(job("a", "t", 50, 10, 0, null), "A", 0);
        loop.offer(job("b", "t", 50, 10, 0, null), "B", 0);
        loop.offer(job("c", "t", 50, 10, 0, 300L), "C", 0);
        loop.decide(0);
        assertThat(wakeups).last().isEqualTo(300L);
        loop.wake(300);
        assertThat(log).containsExactly("expired C @300");
    }

    @Test
    void aFullQueueHoldsJobsAsideBoundedAndAdmitsThemWhenSpaceFrees() {
        DispatchLoop<String> loop = loop(config().withMaxQueuedJobs(2), 1);
        loop.offer(job("a", "t", 50, 10, 0, null), "A", 0);
        loop.offer(job("b", "t", 50, 10, 0, null), "B", 0);
        assertThat(loop.offer(job("c", "t", 50, 10, 0, null), "C", 0)).isEqualTo(DispatchLoop.Offer.HELD);
        assertThat(loop.offer(job("c", "t", 50, 10, 0, null), "C2", 0)).isEqualTo(DispatchLoop.Offer.DUPLICATE);
        for (int i = 0; i < 3; i++) {
            loop.offer(job("h" + i, "t", 50, 10, 0, null), "H" + i, 0);
        }
        assertThat(loop.held()).isEqualTo(4);
        assertThatThrownBy(() -> loop.offer(job("x", "t", 50, 10, 0, null), "X", 0))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("intake must pause");
        assertThat(loop.withdraw("h2")).isEqualTo("H2");
        loop.wake(10); // a, b sent as one batch; the held ones fill the queue
        assertThat(log.get(0)).isEqualTo("send [A, B] @10");
        assertThat(loop.held()).isEqualTo(1);
        assertThat(loop.cancel("h1")).isEqualTo("H1");
    }

    @Test
    void aRequeuedJobSkipsAdmission() {
        DispatchLoop<String> loop = loop(config().withTenantQuotas(100, Map.of()), 1);
        loop.requeue(job("a", "t", 50, 40, 0, null), "A");
        loop.requeue(job("b", "t", 50, 40, 0, null), "B"); // over the quota, but it was admitted before
        loop.wake(10);
        assertThat(log).containsExactly("send [A, B] @10");
    }
}
