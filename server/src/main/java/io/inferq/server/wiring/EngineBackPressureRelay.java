package io.inferq.server.wiring;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.workers.backend.OpenAiHttpBackend;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries real engines' back-pressure from worker processes to every dispatcher. A worker's {@link OpenAiHttpBackend}
 * learns each engine instance's concurrency limit (halved on {@code 429}/{@code 503}, +1 per success) and its
 * {@code Retry-After}; that stays in the worker's process. This relay publishes, every {@value #PERIOD_MS} ms, each
 * pool's state (per worker process) to a Hazelcast map ({@value #MAP}, entries live {@value #TTL_SECONDS} s, so a dead
 * worker's last word fades), and on the dispatcher side reads the map at the same period and hands each pool's
 * <em>share</em> of its nominal capacity to the dispatcher, which sets the pool's batch credits to that share of
 * {@code instances × maxInFlightBatchesPerInstance} ({@code DispatchScheduler.setBatchCredits}).
 *
 * <p>Share of a pool = (Σ current credit limits ÷ Σ configured limits) over its instances not backing off, × the
 * fraction of instances not backing off; 0 while every instance is inside its {@code Retry-After}, so no batch is sent
 * to a pool that asked to be left alone, and work goes to other pools meanwhile. Pools no worker reports on keep their
 * full credits.
 *
 * <p>Threading: one daemon thread per relay does the Hazelcast calls (blocking); the dispatcher callback must hop to
 * its own context.
 */
public final class EngineBackPressureRelay implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EngineBackPressureRelay.class);
    public static final String MAP = "inferq.engine-pressure";
    public static final long PERIOD_MS = 500;
    public static final int TTL_SECONDS = 5;

    /** One worker process's view of one pool's engines. */
    public record PoolPressure(String poolId, int instances, int backingOff, long creditLimitSum, long configuredSum)
            implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    private final IMap<String, PoolPressure> map;
    private final String processId;
    private final Map<String, Published> published = new ConcurrentHashMap<>();
    private final ScheduledExecutorService thread;

    private record Published(OpenAiHttpBackend backend, int[] configured) {
    }

    public EngineBackPressureRelay(HazelcastInstance hz, String processId) {
        this.map = hz.getMap(MAP);
        this.processId = processId;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "engine-back-pressure");
            t.setDaemon(true);
            return t;
        });
    }

    /** Worker side: publishes {@code backend}'s state as pool {@code poolId}'s, from now on. */
    public void publish(String poolId, OpenAiHttpBackend backend) {
        int[] configured = new int[backend.instances()];
        for (int i = 0; i < configured.length; i++) {
            configured[i] = Math.max(1, backend.creditLimit(i)); // a fresh backend's limit is its configured maximum
        }
        boolean first = published.isEmpty();
        published.put(poolId, new Published(backend, configured));
        if (first) {
            thread.scheduleWithFixedDelay(this::publishAll, 0, PERIOD_MS, TimeUnit.MILLISECONDS);
        }
    }

    private void publishAll() {
        long now = System.currentTimeMillis();
        published.forEach((poolId, p) -> {
            int backingOff = 0;
            long limits = 0;
            long configured = 0;
            for (int i = 0; i < p.configured().length; i++) {
                if (p.backend().backPressureUntilMs(i) > now) {
                    backingOff++;
                } else {
                    limits += p.backend().creditLimit(i);
                    configured += p.configured()[i];
                }
            }
            try {
                map.set(poolId + "@" + processId, new PoolPressure(poolId, p.configured().length, backingOff, limits, configured),
                        TTL_SECONDS, TimeUnit.SECONDS);
            } catch (RuntimeException e) {
                LOG.warn("engine back-pressure of pool {} not published ({})", poolId, e.toString());
            }
        });
    }

    /** Dispatcher side: every {@value #PERIOD_MS} ms, {@code sink} gets each reported pool's share of its capacity. */
    public void follow(Consumer<Map<String, Double>> sink) {
        thread.scheduleWithFixedDelay(() -> {
            try {
                sink.accept(shares(new ArrayList<>(map.values())));
            } catch (RuntimeException e) {
                LOG.warn("engine back-pressure not read ({})", e.toString());
            }
        }, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
    }

    /** Each pool's share of its nominal capacity, from every worker process's report of it (see the class doc). */
    public static Map<String, Double> shares(List<PoolPressure> reports) {
        Map<String, long[]> sums = new HashMap<>(); // instances, backing off, limits, configured
        for (PoolPressure r : reports) {
            long[] s = sums.computeIfAbsent(r.poolId(), k -> new long[4]);
            s[0] += r.instances();
            s[1] += r.backingOff();
            s[2] += r.creditLimitSum();
            s[3] += r.configuredSum();
        }
        Map<String, Double> out = new HashMap<>();
        sums.forEach((pool, s) -> {
            double up = s[0] == 0 ? 1 : (s[0] - s[1]) / (double) s[0];
            double limit = s[3] == 0 ? 0 : Math.min(1.0, s[2] / (double) s[3]);
            out.put(pool, up * limit);
        });
        return out;
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
