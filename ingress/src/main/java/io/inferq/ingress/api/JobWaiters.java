package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Synchronous callers waiting for their job to finish; several may wait for one job (a request repeated with its
 * {@code Idempotency-Key}). Bounded: at most {@code maxWaiters} at once ({@link #register} returns null beyond).
 * Thread-safe; each waiter is completed on the Vert.x context that registered it.
 */
final class JobWaiters {
    static final int MAX_WAITERS = 10_000;
    static final long WAIT_TIMEOUT_MS = 120_000;

    /** One caller waiting for {@code jobId}. */
    static final class Waiting {
        private final String jobId;
        private final Context context;
        private final Promise<JobEvent> promise = Promise.promise();

        private Waiting(String jobId, Context context) {
            this.jobId = jobId;
            this.context = context;
        }

        /** @return the job's terminal snapshot, once it has one */
        Future<JobEvent> future() {
            return promise.future();
        }
    }

    private final Map<String, List<Waiting>> waiting = new ConcurrentHashMap<>();
    private final AtomicInteger count = new AtomicInteger();
    private final int maxWaiters;

    JobWaiters(int maxWaiters) {
        this.maxWaiters = maxWaiters;
    }

    /** @return the caller's registration, or null when too many callers wait already */
    Waiting register(String jobId, Context context) {
        if (count.incrementAndGet() > maxWaiters) {
            count.decrementAndGet();
            return null;
        }
        Waiting w = new Waiting(jobId, context);
        waiting.compute(jobId, (k, list) -> {
            List<Waiting> l = list == null ? new ArrayList<>(1) : list;
            l.add(w);
            return l;
        });
        return w;
    }

    /** @return whether the caller was still waiting (then it no longer is) */
    boolean cancel(Waiting w) {
        boolean[] removed = {false};
        waiting.computeIfPresent(w.jobId, (k, list) -> {
            removed[0] = list.remove(w);
            return list.isEmpty() ? null : list;
        });
        if (removed[0]) {
            count.decrementAndGet();
        }
        return removed[0];
    }

    /** Answers every caller waiting for the job, if {@code job} is terminal. Any thread. */
    void complete(JobEvent job) {
        if (!JobStatus.fromWire(job.getStatus()).isTerminal()) {
            return;
        }
        List<Waiting> list = waiting.remove(job.getJobId());
        if (list == null) {
            return;
        }
        count.addAndGet(-list.size());
        for (Waiting w : list) {
            w.context.runOnContext(v -> w.promise.tryComplete(job));
        }
    }
}
