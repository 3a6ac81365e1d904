package io.inferq.server.wiring;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.server.TestInferq;
import io.inferq.server.config.InferqConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The dispatchers' shared credits on a real (embedded) Hazelcast member: two and three gates racing for one instance's
 * credits never hold more than the maximum between them, released credits are free for any, and a dead owner's credits
 * come back after its lease.
 */
class HazelcastCreditGateTest {
    private static HazelcastInstance hz;

    @BeforeAll
    static void start() {
        var cfg = new InferqConfig.Hazelcast(true, TestInferq.freePort(), "inferq-credits-test-" + System.nanoTime(),
                List.of("127.0.0.1"));
        hz = HazelcastLauncher.start(cfg, "127.0.0.1", List.of());
    }

    @AfterAll
    static void stop() {
        hz.shutdown();
    }

    @Test
    void racingDispatchersNeverHoldMoreThanTheMaximum() throws Exception {
        for (int n : new int[] {2, 3}) {
            String pool = "race-" + n;
            List<HazelcastCreditGate> gates = new ArrayList<>();
            for (int d = 0; d < n; d++) {
                gates.add(new HazelcastCreditGate(hz, "d" + d, 30_000));
            }
            AtomicInteger inFlight = new AtomicInteger();
            AtomicInteger maxSeen = new AtomicInteger();
            AtomicInteger granted = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(n);
            for (HazelcastCreditGate g : gates) {
                Thread t = new Thread(() -> {
                    for (int i = 0; i < 200; i++) {
                        if (g.tryAcquire(pool, 0, 2)) {
                            granted.incrementAndGet();
                            maxSeen.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                            inFlight.decrementAndGet();
                            g.release(pool, 0);
                        }
                    }
                    done.countDown();
                });
                t.start();
            }
            assertThat(done.await(60, TimeUnit.SECONDS)).isTrue();
            assertThat(maxSeen.get()).as(n + " dispatchers").isLessThanOrEqualTo(2);
            assertThat(granted.get()).as(n + " dispatchers got credits").isGreaterThan(0);
            assertThat(gates.get(0).taken(pool, 0)).isZero();
            gates.forEach(HazelcastCreditGate::close);
        }
    }

    @Test
    void theMaximumHoldsAcrossDispatchersAndADeadOwnersCreditsComeBackAfterItsLease() throws Exception {
        HazelcastCreditGate a = new HazelcastCreditGate(hz, "a", 300);
        HazelcastCreditGate b = new HazelcastCreditGate(hz, "b", 300);
        assertThat(a.tryAcquire("p", 1, 2)).isTrue();
        assertThat(b.tryAcquire("p", 1, 2)).isTrue();
        assertThat(a.tryAcquire("p", 1, 2)).as("two taken between them").isFalse();
        assertThat(b.tryAcquire("p", 0, 2)).as("another instance has its own").isTrue();
        b.release("p", 1);
        assertThat(a.tryAcquire("p", 1, 2)).as("freed by b, free for a").isTrue();
        assertThat(b.tryAcquire("p", 1, 2)).isFalse();
        a.close(); // 'a' dies: no more renewals; its two credits on p#1 come back after its lease
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        boolean back = false;
        while (!back && System.nanoTime() < deadline) {
            back = b.tryAcquire("p", 1, 2);
            if (!back) {
                Thread.onSpinWait();
            }
        }
        assertThat(back).as("a dead owner's credit is taken over after its lease").isTrue();
        // b keeps its own credit alive past the lease by renewing it
        HazelcastCreditGate c = new HazelcastCreditGate(hz, "c", 300);
        assertThat(c.tryAcquire("p", 0, 1)).as("b's renewed credit on p#0 still counts").isFalse();
        b.close();
        c.close();
    }
}
