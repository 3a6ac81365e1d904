package io.inferq.server;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.job.TerminalClaims;
import io.inferq.server.config.InferqConfig;
import io.inferq.server.wiring.HazelcastTerminalClaims;
import io.inferq.workers.pool.PoolPlan;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inferq process: starts what its configuration asks for — an embedded KRaft broker and
 * Hazelcast member (or clients of external clusters), then the ingress, dispatcher and worker roles —
 * and stops them in the reverse order.
 *
 * <p>{@link #start} blocks until every part is started (not necessarily ready: see {@link #readiness()}).
 * {@link #close} is the graceful shutdown: stop taking HTTP work, stop dispatching, let workers
 * finish (or hand back) their batches, flush producers, then stop Hazelcast and the broker.
 *
 * <p>Each part has its own wiring unit: {@link Infrastructure} (broker, Hazelcast, Admin, Vert.x, producer, health
 * probe), {@link KvWiring}, {@link IngressWiring}, {@link WorkersWiring}, {@link DispatcherWiring}; this class
 * only orders their steps.
 */
public final class InferqServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InferqServer.class);

    private final InferqConfig config;
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final Infrastructure infra;
    private final KvWiring kv;
    private final IngressWiring ingress;
    private final WorkersWiring workers;
    private final DispatcherWiring dispatcher;

    private InferqServer(InferqConfig config) {
        this.config = config;
        this.infra = new Infrastructure(config);
        this.kv = new KvWiring(config, toClose);
        this.ingress = new IngressWiring(config, toClose);
        this.workers = new WorkersWiring(config);
        this.dispatcher = new DispatcherWiring(config);
    }

    /** Starts a process with this configuration; on failure everything started is stopped again. */
    public static InferqServer start(InferqConfig config) {
        InferqServer s = new InferqServer(config);
        try {
            s.startAll();
            return s;
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void startAll() {
        long t0 = System.nanoTime();
        infra.identify();
        String processId = infra.processId();
        List<PoolPlan> plans = PoolPlans.resolve(config);

        // Hazelcast starts on its own thread beside the broker
        infra.startHazelcast();
        infra.startKafka(plans);
        TerminalClaims claims = new HazelcastTerminalClaims(infra.awaitHazelcast());

        infra.startVertxAndProducer();
        Clock clock = Clock.systemUTC();
        TrustedOrigin origin = TrustedOrigin.forTenants(apiKeysByTenant());
        kv.start(plans, processId, infra);

        // the ingress first: its job-view replay also rebuilds the terminal-state claims (lost with an
        // embedded Hazelcast member) before any worker or dispatcher could act on a stale job
        if (config.runs(InferqConfig.Role.INGRESS)) {
            ingress.start(infra, plans, claims, clock, origin, this::readiness);
        }
        if (config.runs(InferqConfig.Role.WORKERS)) {
            workers.start(infra, plans, claims, kv.cacheHook(), clock, origin);
        }
        if (config.runs(InferqConfig.Role.DISPATCHER)) {
            dispatcher.start(infra, plans, claims, kv.prefixLocator(), kv.promptAnalyzer(), clock, ingress.consoleSource());
        }
        infra.startHealthProbe();
        LOG.info("inferq started in {} ms (roles {}, process {})", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                config.roles(), processId);
    }

    private Map<String, List<String>> apiKeysByTenant() {
        Map<String, List<String>> keys = new LinkedHashMap<>();
        config.tenants().forEach(t -> keys.put(t.id(), t.apiKeys()));
        return keys;
    }

    /** @return component → ready; the process is ready when all are */
    public Map<String, Boolean> readiness() {
        Map<String, Boolean> r = new LinkedHashMap<>();
        infra.readiness(r);
        ingress.readiness(r);
        dispatcher.readiness(r);
        workers.readiness(r);
        return r;
    }

    public boolean isReady() {
        return readiness().values().stream().allMatch(Boolean::booleanValue);
    }

    /**
     * Blocks until {@link #isReady()} or the timeout; on timeout closes this process.
     *
     * @return this, ready
     * @throws IllegalStateException naming the components that are not ready
     */
    public InferqServer awaitReady(java.time.Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!isReady()) {
            if (System.nanoTime() > deadline) {
                Map<String, Boolean> r = readiness();
                close();
                throw new IllegalStateException("inferq not ready after " + timeout.toSeconds() + " s: " + r);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for readiness", e);
            }
        }
        return this;
    }

    /** Port of the remote KV tier (Redis protocol), or -1 when {@code kv-cache.resp-port} is -1. */
    public int remoteKvPort() {
        return kv.remoteKvPort();
    }

    public int httpPort() {
        return ingress.httpPort();
    }

    public String kafkaBootstrapServers() {
        return infra.kafka().bootstrapServers();
    }

    public HazelcastInstance hazelcast() {
        return infra.hazelcast();
    }

    public PrometheusMeterRegistry registry() {
        return infra.registry();
    }

    /** Graceful shutdown; safe to call more than once and after a failed start. */
    @Override
    public synchronized void close() {
        long t0 = System.nanoTime();
        infra.stopHealthProbe();
        ingress.undeploy();
        dispatcher.undeploy();
        workers.close();
        ingress.closeStores();
        toClose.forEach(c -> StartStop.quietly(c::close));
        toClose.clear();
        infra.close();
        LOG.info("inferq stopped in {} ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }
}
