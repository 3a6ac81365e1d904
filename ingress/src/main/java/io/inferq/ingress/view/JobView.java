package io.inferq.ingress.view;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import java.util.List;

/**
 * The queryable state of every job, materialised from {@code inferq.job-events}. A derived view:
 * it can always be rebuilt by replaying the compacted topic.
 *
 * <p>Every method may block on the network (Hazelcast): call from a worker thread
 * ({@code executeBlocking}), never from an event loop. Implementations are thread-safe.
 */
public interface JobView {

    /** @return the latest snapshot of a job, or null when unknown */
    JobEvent get(String jobId);

    /**
     * Applies an event if the job's state machine allows it (first terminal state wins; the same
     * status again only merges timestamps).
     *
     * @return whether the view changed
     */
    default boolean apply(JobEvent event) {
        return !applyAll(List.of(event)).isEmpty();
    }

    /**
     * Applies events in order, as {@link #apply} would one by one, but with fewer round trips: several events
     * of one job become one write (a poll batch of the job-events topic typically holds a job's whole life).
     *
     * <p>A job whose write fails does not stop the other jobs: they apply, and {@link NotAllApplied} then names the
     * events of the jobs that did not (to apply again: applying an event twice changes nothing).
     *
     * @return for each event that changed the view, in event order, the job's snapshot right after that change
     * @throws NotAllApplied  when some jobs' writes failed and others did not
     * @throws RuntimeException when nothing could be applied (the store is unavailable)
     */
    List<JobEvent> applyAll(List<JobEvent> events);

    /** Some jobs of an {@link #applyAll} were written, others not. */
    final class NotAllApplied extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final transient List<JobEvent> changed;
        private final transient List<JobEvent> notApplied;

        public NotAllApplied(List<JobEvent> changed, List<JobEvent> notApplied, RuntimeException firstCause) {
            super(notApplied.size() + " event(s) not applied: " + firstCause, firstCause);
            this.changed = List.copyOf(changed);
            this.notApplied = List.copyOf(notApplied);
        }

        /** @return what {@link #applyAll} would have answered for the jobs that were written */
        public List<JobEvent> changed() {
            return changed;
        }

        /** @return the events of the jobs whose write failed, in their order */
        public List<JobEvent> notApplied() {
            return notApplied;
        }
    }

    /**
     * @param status null for any status
     * @param after  a job id cursor from a previous page, or null for the newest
     * @return up to {@code limit} jobs of the tenant, newest first, plus whether more exist
     * @throws UnknownCursor if {@code after} names no job of the tenant in the view
     */
    Page list(String tenant, JobStatus status, int limit, String after);

    /** A list cursor that names no job of the tenant (never one, another tenant's, or one past its retention). */
    final class UnknownCursor extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public UnknownCursor(String after) {
            super("no job '" + after + "' to list after");
        }
    }

    /** @return jobs of a tenant not yet terminal */
    long activeJobs(String tenant);

    /**
     * Reserves an idempotency key for a new job.
     *
     * @return null when reserved for {@code jobId}; otherwise the earlier reservation
     */
    IdempotencyRecord reserve(String tenant, String key, String jobId, String requestHash);

    /** Drops a reservation whose job could not be queued. */
    void release(String tenant, String key, String jobId);

    /** An earlier use of an idempotency key. */
    record IdempotencyRecord(String jobId, String requestHash) {
    }

    /** One page of a list. */
    record Page(List<JobEvent> jobs, boolean hasMore) {
    }
}
