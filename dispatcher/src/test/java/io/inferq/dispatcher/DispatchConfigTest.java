package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DispatchConfigTest {

    @Test
    void validationMessagesNameTheSetting() {
        DispatchConfig d = DispatchConfig.defaults();
        assertThatThrownBy(() -> d.withMaxQueuedJobs(0)).hasMessageContaining("maxQueuedJobs");
        // the messages say the bound (DispatchConfig.Bound) and the value
        assertThatThrownBy(() -> d.withMaxQueuedJobs(0)).hasMessage("maxQueuedJobs must be at least 1, was 0");
        assertThatThrownBy(() -> d.withHeadroom(0, -1)).hasMessage("headroomWindowMs must not be negative, was -1");
        assertThatThrownBy(() -> d.withPrefix(64, 1.5)).hasMessage("prefixOverlapWeight must be within [0,1], was 1.5");
        assertThatThrownBy(() -> d.withTenantQuotas(10, Map.of("x", 0L))).hasMessage("tenantQueuedTokens[x] must be at least 1, was 0");
        assertThatThrownBy(() -> d.withMaxWaits(-1, 0)).hasMessageContaining("interactiveMaxWaitMs");
        assertThatThrownBy(() -> d.withMaxWaits(0, -1)).hasMessageContaining("batchMaxWaitMs");
        assertThatThrownBy(() -> d.withBatchPromotionAfterMs(-5)).hasMessageContaining("batchPromotionAfterMs");
        assertThatThrownBy(() -> d.withTenantQuotas(0, Map.of())).hasMessageContaining("defaultTenantQueuedTokens");
        assertThatThrownBy(() -> d.withTenantQuotas(10, Map.of("x", 0L)))
                .hasMessageContaining("tenantQueuedTokens[x]");
        assertThatThrownBy(() -> d.withMaxInFlightBatchesPerInstance(0))
                .hasMessageContaining("maxInFlightBatchesPerInstance");
        assertThatThrownBy(() -> d.withPrefix(0, 1)).hasMessageContaining("prefixBlockTokens");
        assertThatThrownBy(() -> d.withPrefix(64, 1.5)).hasMessageContaining("prefixOverlapWeight");
        assertThatThrownBy(() -> LengthBuckets.of(10, 10)).hasMessageContaining("lengthBuckets");
        assertThatThrownBy(() -> LengthBuckets.of(0)).hasMessageContaining("lengthBuckets");
        assertThatThrownBy(() -> Fixtures.pool("p", "m", 0, 1, 1, Fixtures.linear(1, 1)))
                .hasMessageContaining("instances");
        assertThatThrownBy(() -> new DispatchScheduler(d, List.of(), RoutingPolicies.roundRobin(), PrefixLocator.NONE))
                .hasMessageContaining("pools");
        PoolProfile p = Fixtures.pool("p", "m", 1, 1, 1, Fixtures.linear(1, 1));
        assertThatThrownBy(() -> new DispatchScheduler(d, List.of(p, p), RoutingPolicies.roundRobin(),
                PrefixLocator.NONE)).hasMessageContaining("duplicate poolId p");
        assertThatThrownBy(() -> RoutingPolicies.byName("fastest", 1)).hasMessageContaining("routing policy");
    }

    @Test
    void lengthBucketsAreInclusiveWithAnOpenLastBucket() {
        LengthBuckets b = LengthBuckets.of(512, 2048);
        assertThat(b.count()).isEqualTo(3);
        assertThat(b.bucketOf(1)).isZero();
        assertThat(b.bucketOf(512)).isZero();
        assertThat(b.bucketOf(513)).isEqualTo(1);
        assertThat(b.bucketOf(2049)).isEqualTo(2);
        assertThat(b.upperTokens(2)).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void metricsCountQueueDepthBatchesAndRejections() {
        SimpleMeterRegistry reg = new SimpleMeterRegistry();
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withTenantQuotas(100, Map.of()),
                List.of(Fixtures.pool("p", "m", 1, 1000, 4, Fixtures.linear(1000, 0.01))),
                RoutingPolicies.roundRobin(), PrefixLocator.NONE, reg);
        s.enqueue(Fixtures.job("a", io.inferq.job.JobLane.INTERACTIVE, 40, 0));
        s.enqueue(Fixtures.job("b", io.inferq.job.JobLane.INTERACTIVE, 20, 0));
        assertThat(reg.get("inferq.dispatcher.queue.depth").tag("lane", "interactive").gauge().value()).isEqualTo(2);
        s.admit(Fixtures.job("c", io.inferq.job.JobLane.INTERACTIVE, 90, 0), 0);
        assertThat(reg.get("inferq.dispatcher.rejections").tag("code", Admission.CODE_TENANT_QUOTA).counter().count())
                .isEqualTo(1);
        s.formBatches(100);
        assertThat(reg.get("inferq.dispatcher.batch.size").tag("pool", "p").summary().totalAmount()).isEqualTo(2);
        assertThat(reg.get("inferq.dispatcher.batch.padding.waste").tag("pool", "p").summary().max()).isEqualTo(0.25);
        assertThat(reg.get("inferq.dispatcher.pool.utilisation").tag("pool", "p").gauge().value()).isEqualTo(1.0);
        assertThat(reg.get("inferq.dispatcher.queue.wait").tag("lane", "interactive").timer().count()).isEqualTo(2);
    }
}
