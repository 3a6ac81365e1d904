package io.inferq.server.wiring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.server.TestInferq;
import io.inferq.server.config.InferqConfig;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Engines' back-pressure from worker processes to the dispatchers' credits, through Hazelcast. */
class EngineBackPressureRelayTest {

    @Test
    void sharesFollowCreditLimitsAndRetryAfter() {
        var healthy = new EngineBackPressureRelay.PoolPressure("a", 2, 0, 16, 16);
        var halved = new EngineBackPressureRelay.PoolPressure("b", 2, 0, 8, 16);
        var oneBacksOff = new EngineBackPressureRelay.PoolPressure("c", 2, 1, 8, 8);
        var allBackOff = new EngineBackPressureRelay.PoolPressure("d", 2, 2, 0, 0);
        // pool e is served by two worker processes: one healthy, one whose engines were pushed back to a quarter
        var e1 = new EngineBackPressureRelay.PoolPressure("e", 1, 0, 8, 8);
        var e2 = new EngineBackPressureRelay.PoolPressure("e", 1, 0, 2, 8);
        Map<String, Double> s = EngineBackPressureRelay.shares(List.of(healthy, halved, oneBacksOff, allBackOff, e1, e2));
        assertThat(s.get("a")).isEqualTo(1.0);
        assertThat(s.get("b")).isEqualTo(0.5);
        assertThat(s.get("c")).isEqualTo(0.5);
        assertThat(s.get("d")).isEqualTo(0.0);
        assertThat(s.get("e")).isCloseTo(10 / 16.0, within(1e-9));
    }

    @Test
    void aWorkersReportReachesADispatcherInAnotherProcess() throws Exception {
        var cfg = new InferqConfig.Hazelcast(true, TestInferq.freePort(), "inferq-pressure-test-" + System.nanoTime(),
                List.of("127.0.0.1"));
        HazelcastInstance hz = HazelcastLauncher.start(cfg, "127.0.0.1", List.of());
        try (EngineBackPressureRelay dispatcherSide = new EngineBackPressureRelay(hz, "dispatcher-1")) {
            LinkedBlockingQueue<Map<String, Double>> seen = new LinkedBlockingQueue<>();
            dispatcherSide.follow(seen::add);
            // what a worker process's relay writes for its pool whose engines answered 429 with Retry-After
            hz.<String, EngineBackPressureRelay.PoolPressure>getMap(EngineBackPressureRelay.MAP).set("vllm-a@worker-7",
                    new EngineBackPressureRelay.PoolPressure("vllm-a", 2, 2, 0, 0), 5, TimeUnit.SECONDS);
            Map<String, Double> shares = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                Map<String, Double> m = seen.poll(1, TimeUnit.SECONDS);
                if (m != null && m.containsKey("vllm-a")) {
                    shares = m;
                    break;
                }
            }
            assertThat(shares).as("the dispatcher side saw the pool's report").isNotNull();
            assertThat(shares.get("vllm-a")).as("every instance inside its Retry-After: no credits").isEqualTo(0.0);
        } finally {
            hz.shutdown();
        }
    }
}
