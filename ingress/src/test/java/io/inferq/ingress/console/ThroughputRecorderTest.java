package io.inferq.ingress.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobStatusCode;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ThroughputRecorderTest {

    private static JobEvent event(String id, JobStatusCode status, long queued, Long dispatched, long at) {
        Map<String, Long> times = new HashMap<>();
        times.put("queued", queued);
        if (dispatched != null) {
            times.put("dispatched", dispatched);
        }
        return JobEvent.newBuilder().setJobId(id).setTenant("t").setModel("m").setStatus(status).setAtMs(at)
                .setStateTimes(times).build();
    }

    @Test
    void anIntervalCountsJobsInAndOutPerSecondAndTheLatenciesOfJobsThatRan() {
        ThroughputRecorder r = new ThroughputRecorder(10, 0);
        for (int i = 0; i < 100; i++) {
            r.onJobEvent(event("q" + i, JobStatusCode.QUEUED, 0, null, 0));
        }
        for (int i = 1; i <= 100; i++) { // waits 1..100 ms, end to end 10..1000 ms
            r.onJobEvent(event("s" + i, JobStatusCode.SUCCEEDED, 0, (long) i, i * 10L));
        }
        r.onJobEvent(event("c", JobStatusCode.CANCELLED, 0, null, 5)); // out, but no latency: it never ran
        r.onJobEvent(event("d", JobStatusCode.DISPATCHED, 0, 1L, 1)); // neither in nor out
        ThroughputRecorder.Sample s = r.sample(2000, Map.of("queued.interactive", 3.0));
        assertThat(s.inPerSec()).isEqualTo(50.0);
        assertThat(s.outPerSec()).isEqualTo(50.5);
        assertThat(s.waitP50Ms()).isEqualTo(50);
        assertThat(s.waitP99Ms()).isEqualTo(99);
        assertThat(s.e2eP50Ms()).isEqualTo(500);
        assertThat(s.e2eP99Ms()).isEqualTo(990);
        assertThat(s.extra()).containsEntry("queued.interactive", 3.0);
        assertThat(r.totals()).containsExactly(100, 101);
        ThroughputRecorder.Sample empty = r.sample(4000, Map.of());
        assertThat(empty.inPerSec()).isZero();
        assertThat(empty.waitP50Ms()).isEqualTo(-1);
    }

    @Test
    void theRingKeepsTheNewestSamplesAndSinceReturnsOnlyNewerOnes() {
        ThroughputRecorder r = new ThroughputRecorder(3, 0);
        for (int i = 1; i <= 5; i++) {
            r.sample(i * 1000L, Map.of());
        }
        assertThat(r.since(0)).extracting(ThroughputRecorder.Sample::atMs).containsExactly(3000L, 4000L, 5000L);
        assertThat(r.since(4000)).extracting(ThroughputRecorder.Sample::atMs).containsExactly(5000L);
        assertThat(r.since(5000)).isEmpty();
    }

    @Test
    void latenciesOfABusyIntervalAreSampledNotAllKept() {
        ThroughputRecorder r = new ThroughputRecorder(2, 0);
        for (int i = 0; i < 10_000; i++) {
            r.onJobEvent(event("s" + i, JobStatusCode.SUCCEEDED, 0, 10L, 20));
        }
        ThroughputRecorder.Sample s = r.sample(1000, Map.of());
        assertThat(s.outPerSec()).isEqualTo(10_000.0);
        assertThat(s.waitP99Ms()).isEqualTo(10);
        assertThat(s.e2eP50Ms()).isEqualTo(20);
    }

    @Test
    void capacityMustBePositive() {
        assertThatThrownBy(() -> new ThroughputRecorder(0, 0)).hasMessageContaining("capacity must be at least 1");
    }
}
