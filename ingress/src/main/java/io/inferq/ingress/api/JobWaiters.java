package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.job.JobStatus;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Synchronous callers waiting for their job to finish. Bounded: at most {@code maxWaiters} at once
 * ({@link #register} returns null beyond). Thread-safe; each waiter is completed on the Vert.x context
 * that registered it.
 */
final class JobWaiters {
    static final int MAX_WAITERS = 10_000;
    static final long WAIT_TIMEOUT_MS = 120_000;

    private record Waiter(Context context, Promise<JobEvent> promise) {
    }

    private final Map<String, Waiter> waiting = new ConcurrentHashMap<>();
    private final int maxWaiters;

    JobWaiters(int maxWaiters) {
        this.maxWaiters = maxWaiters;
    }

    /** @return a future of the job's terminal snapshot, or null when too many callers wait already */
    Future<JobEvent> register(String jobId, Context context) {
        if (waiting.size() >= maxWaiters) {
            return null;
        }
        Promise<JobEvent> p = Promise.promise();
        waiting.put(jobId, new Waiter(context, p));
        return p.future();
    }

    /** @return whether a waiter was still registered */
    boolean cancel(String jobId) {
        return waiting.remove(jobId) != null;
    }

    void complete(JobEvent job) {
        if (!JobStatus.fromWire(job.getStatus()).isTerminal()) {
            return;
        }
        Waiter w = waiting.remove(job.getJobId());
        if (w != null) {
            w.context().runOnContext(v -> w.promise().tryComplete(job));
        }
    }
}
