package io.inferq.server.wiring;

import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.runtime.DispatcherVerticle;
import io.inferq.ingress.console.ConsoleSource;
import io.vertx.core.Future;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The console's view of this process's pools and dispatcher. The ingress starts before the dispatcher, so the
 * dispatcher is attached once it is deployed ({@link #attach}); until then (and in a process without the dispatcher
 * role) {@link #queues()} fails and the console says the queues are not in this process.
 */
public final class DispatcherConsoleSource implements ConsoleSource {
    private final List<PoolDescriptor> pools;
    private final Clock clock;
    private volatile DispatcherVerticle dispatcher;

    public DispatcherConsoleSource(List<PoolDescriptor> pools, Clock clock) {
        this.pools = List.copyOf(pools);
        this.clock = clock;
    }

    public void attach(DispatcherVerticle d) {
        this.dispatcher = d;
    }

    @Override
    public List<PoolDescriptor> pools() {
        return pools;
    }

    @Override
    public Future<QueueSnapshot> queues() {
        DispatcherVerticle d = dispatcher;
        if (d == null) {
            return Future.failedFuture(new IllegalStateException("no dispatcher runs in this process"));
        }
        return d.readScheduler(this::read);
    }

    /** On the dispatcher's context: one step per (lane, model, bucket) queue and per tenant with queued work. */
    private QueueSnapshot read(DispatchScheduler s) {
        List<QueueGroup> groups = new ArrayList<>();
        for (DispatchScheduler.QueueGroupDepth g : s.queueGroups()) {
            groups.add(new QueueGroup(g.lane().apiName(), g.model(), g.bucketUpperTokens(), g.jobs(), g.promptTokens(),
                    g.oldestEnqueuedAtMs()));
        }
        Map<String, Long> tokens = s.queuedTokensByTenant();
        Map<String, Long> quotas = new LinkedHashMap<>();
        tokens.keySet().forEach(t -> quotas.put(t, s.config().quotaOf(t)));
        return new QueueSnapshot(clock.millis(), s.config().maxQueuedJobs(), groups, tokens, quotas);
    }
}
