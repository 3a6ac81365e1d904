package io.inferq.dispatcher;

import static io.inferq.job.JobLane.BATCH;
import static io.inferq.job.JobLane.INTERACTIVE;
import static io.inferq.dispatcher.Fixtures.job;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.dispatcher.fairness.FairnessConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdmissionTest {

    // 1 instance, batches of 10 seqs × 100 tokens; prefill 1000 tok/s, decode 0.01 s/step
    private final List<PoolProfile> pools =
            List.of(Fixtures.pool("p", "m", 1, 1000, 10, Fixtures.linear(1000, 0.01)));

    @Test
    void tenantQuotaOnQueuedTokens() {
        DispatchScheduler s = new DispatchScheduler(
                Fixtures.config().withTenantQuotas(1000, Map.of("big", 10_000L)), pools,
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        s.enqueue(job("a", "t1", INTERACTIVE, 500, 100, 0, null));
        assertThat(s.queuedTokens("t1")).isEqualTo(600);
        Admission second = s.admit(job("b", "t1", INTERACTIVE, 400, 100, 0, null), 0);
        assertThat(second).isInstanceOfSatisfying(Admission.Rejected.class, r -> {
            assertThat(r.code()).isEqualTo(Admission.CODE_TENANT_QUOTA);
            assertThat(r.message()).contains("tenantQueuedTokens").contains("quota of 1000");
            assertThat(r.retriable()).isTrue();
        });
        assertThat(s.admit(job("c", "t2", INTERACTIVE, 400, 100, 0, null), 0)).isEqualTo(Admission.ACCEPTED);
        assertThat(s.admit(job("d", "big", INTERACTIVE, 900, 100, 0, null), 0)).isEqualTo(Admission.ACCEPTED);
        s.cancel("a");
        assertThat(s.admit(job("b", "t1", INTERACTIVE, 400, 100, 0, null), 0)).isEqualTo(Admission.ACCEPTED);
    }

    @Test
    void predictedWaitBeyondDeadlineIsRejectedEarly() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config(), pools, RoutingPolicies.estimatedCompletion(),
                PrefixLocator.NONE);
        assertThat(s.admit(job("first", "t", INTERACTIVE, 100, 100, 0, 50L), 0)).isEqualTo(Admission.ACCEPTED);
        for (int i = 0; i < 50; i++) {
            s.enqueue(job("q" + i, "t", INTERACTIVE, 100, 100, 0, null));
        }
        // 50 × 200 work tokens queued ahead; a full batch: 10 × 200 work tokens in 1 s prefill + 1 s decode → 10 s
        Admission tight = s.admit(job("tight", "t", INTERACTIVE, 100, 100, 0, 1_000L), 0);
        assertThat(tight).isInstanceOfSatisfying(Admission.Rejected.class, r -> {
            assertThat(r.code()).isEqualTo(Admission.CODE_DEADLINE);
            assertThat(r.retryAfterMs()).isEqualTo(9_000L);
        });
        assertThat(s.admit(job("loose", "t", INTERACTIVE, 100, 100, 0, 60_000L), 0)).isEqualTo(Admission.ACCEPTED);
        // a batch-lane job also waits behind queued batch work; an interactive one does not
        for (int i = 0; i < 50; i++) {
            s.enqueue(job("bq" + i, "t", BATCH, 100, 100, 0, null));
        }
        assertThat(s.admit(job("i", "t", INTERACTIVE, 100, 100, 0, 11_000L), 0)).isEqualTo(Admission.ACCEPTED);
        assertThat(s.admit(job("b", "t", BATCH, 100, 100, 0, 11_000L), 0)).isInstanceOf(Admission.Rejected.class);
    }

    @Test
    void queuedJobsExpireWhenTheDeadlinePassesOrIsPredictedToBeMissed() {
        // oldest-first: the no-deadline jobs queued earlier are ahead (with fair sharing a tenant's own jobs go
        // earliest deadline first, so "doomed" would be first of its tenant: see FairSharingSchedulerTest)
        DispatchScheduler s = new DispatchScheduler(Fixtures.config(), FairnessConfig.oldestFirst(), pools,
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
        for (int i = 0; i < 50; i++) {
            s.enqueue(job("q" + i, "t", INTERACTIVE, 100, 100, 0, null));
        }
        s.enqueue(job("doomed", "t", INTERACTIVE, 100, 100, 0, 1_000L));   // 10 s of work ahead
        s.enqueue(job("fine", "t", INTERACTIVE, 100, 100, 0, 100_000L));
        s.enqueue(job("past", "t", BATCH, 100, 100, 0, 10L));
        // both are predicted to miss: 10 s of interactive work is ahead of each
        assertThat(s.expireDue(0)).extracting(QueuedJob::jobId).containsExactlyInAnyOrder("doomed", "past");
        assertThat(s.expireDue(20)).isEmpty();
        assertThat(s.isQueued("fine")).isTrue();
        assertThat(s.nextDecisionAtMs(20)).isLessThanOrEqualTo(100_000L);

        DispatchScheduler lenient = new DispatchScheduler(Fixtures.config().withExpireOnPredictedMiss(false), pools,
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        for (int i = 0; i < 50; i++) {
            lenient.enqueue(job("q" + i, "t", INTERACTIVE, 100, 100, 0, null));
        }
        lenient.enqueue(job("doomed", "t", INTERACTIVE, 100, 100, 0, 1_000L));
        assertThat(lenient.expireDue(999)).isEmpty();
        assertThat(lenient.expireDue(1_000)).extracting(QueuedJob::jobId).containsExactly("doomed");
    }

    @Test
    void aLongQueueOfFarDeadlinesStillExpiresEachDueJobExactlyOnTime() {
        // a batch's lines carry its completion window (24 h): expiry must still find the few near deadlines, through
        // cancellations and several jobs sharing one deadline
        long day = 86_400_000L;
        DispatchScheduler lenient = new DispatchScheduler(Fixtures.config().withExpireOnPredictedMiss(false), pools,
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE);
        for (int i = 0; i < 200; i++) {
            lenient.enqueue(job("line" + i, "t", BATCH, 100, 100, 0, day));
        }
        lenient.enqueue(job("a1", "t", INTERACTIVE, 100, 100, 0, 5_000L));
        lenient.enqueue(job("a2", "u", INTERACTIVE, 100, 100, 0, 5_000L));
        lenient.enqueue(job("b", "t", INTERACTIVE, 100, 100, 0, 7_000L));
        assertThat(lenient.cancel("a1")).isTrue();
        assertThat(lenient.nextDecisionAtMs(4_000)).isLessThanOrEqualTo(5_000L);
        assertThat(lenient.expireDue(4_999)).isEmpty();
        assertThat(lenient.expireDue(5_000)).extracting(QueuedJob::jobId).containsExactly("a2");
        assertThat(lenient.expireDue(6_999)).isEmpty();
        assertThat(lenient.expireDue(7_000)).extracting(QueuedJob::jobId).containsExactly("b");
        assertThat(lenient.expireDue(day - 1)).isEmpty();
        assertThat(lenient.expireDue(day)).hasSize(200);
        assertThat(lenient.queuedJobs()).isZero();

        // predicted misses too: 10 s of work is queued ahead of "doomed" (deadline 1 s), behind 200 far deadlines
        DispatchScheduler s = new DispatchScheduler(Fixtures.config(), FairnessConfig.oldestFirst(), pools,
                RoutingPolicies.estimatedCompletion(), PrefixLocator.NONE, null);
        for (int i = 0; i < 50; i++) {
            s.enqueue(job("q" + i, "t", INTERACTIVE, 100, 100, 0, null));
        }
        for (int i = 0; i < 200; i++) {
            s.enqueue(job("line" + i, "t", BATCH, 100, 100, 0, day));
        }
        s.enqueue(job("doomed", "t", INTERACTIVE, 100, 100, 0, 1_000L));
        assertThat(s.expireDue(0)).extracting(QueuedJob::jobId).containsExactly("doomed");
        assertThat(s.expireDue(1)).isEmpty();
    }

    @Test
    void unservedModelAndOverlongPromptAreNotRetriable() {
        DispatchScheduler s = new DispatchScheduler(Fixtures.config(), pools, RoutingPolicies.estimatedCompletion(),
                PrefixLocator.NONE);
        QueuedJob other = new QueuedJob("x", "t", "other", INTERACTIVE, 10, 10, 0, null, List.of());
        assertThat(s.admit(other, 0)).isInstanceOfSatisfying(Admission.Rejected.class, r -> {
            assertThat(r.code()).isEqualTo(Admission.CODE_MODEL_NOT_SERVED);
            assertThat(r.retriable()).isFalse();
        });
        assertThat(s.admit(job("long", "t", INTERACTIVE, 1001, 10, 0, null), 0))
                .isInstanceOfSatisfying(Admission.Rejected.class,
                        r -> assertThat(r.code()).isEqualTo(Admission.CODE_PROMPT_TOO_LONG));
    }
}
