package io.inferq.job;

import io.inferq.broker.avro.JobStatusCode;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The one job state model shared by every module: {@code queued → dispatched → running →
 * succeeded | failed | cancelled | expired}.
 *
 * <p>The transition table is the only place that says which change is legal. Terminal states are
 * absorbing: once a job is terminal no further change is accepted, which is how "exactly one terminal
 * state" holds even when a job runs twice after a crash. A batch handed back by a worker may go
 * from {@code dispatched} or {@code running} back to {@code queued}. Immutable and thread-safe.
 */
public enum JobStatus {
    QUEUED, DISPATCHED, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED;

    private static final Map<JobStatus, Set<JobStatus>> ALLOWED = Map.of(
            QUEUED, EnumSet.of(DISPATCHED, RUNNING, CANCELLED, EXPIRED, FAILED),
            DISPATCHED, EnumSet.of(QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED),
            RUNNING, EnumSet.of(QUEUED, SUCCEEDED, FAILED, CANCELLED),
            SUCCEEDED, EnumSet.noneOf(JobStatus.class),
            FAILED, EnumSet.noneOf(JobStatus.class),
            CANCELLED, EnumSet.noneOf(JobStatus.class),
            EXPIRED, EnumSet.noneOf(JobStatus.class));

    /** @return whether this state ends the job */
    public boolean isTerminal() {
        return ALLOWED.get(this).isEmpty();
    }

    /** @return whether a job in this state may move to {@code next} */
    public boolean canMoveTo(JobStatus next) {
        return ALLOWED.get(this).contains(next);
    }

    /**
     * Whether an event recording {@code next} is taken after one recording this state when a job's history is read back
     * from {@code inferq.job-events} (the job view, the live batch progress): every move {@link #canMoveTo} allows, and
     * any terminal state after any non-terminal one. The terminal state is decided by the job's terminal claim and
     * written by the claim's winner, while the {@code dispatched} and {@code running} events are informational and
     * written by other producers (the dispatcher; the worker's non-transactional event producer), so the outcome may
     * reach the topic before them (a worker that finishes a batch at once), and a batch's end may expire a line that
     * is running. A reader that refused such an outcome would show the job unfinished for ever. Terminal states stay
     * absorbing: the informational events that arrive after the outcome change nothing.
     */
    public boolean canBeFollowedBy(JobStatus next) {
        return canMoveTo(next) || !isTerminal() && next.isTerminal();
    }

    /**
     * @throws IllegalJobTransitionException when the table forbids the change
     */
    public JobStatus moveTo(String jobId, JobStatus next) {
        if (!canMoveTo(next)) {
            throw new IllegalJobTransitionException(jobId, this, next);
        }
        return next;
    }

    /** @return the lower-case name used in the HTTP API and webhooks ({@code "succeeded"}) */
    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @return the status for an API name, or {@code null} when the name is not a status */
    public static JobStatus fromApiName(String name) {
        for (JobStatus s : values()) {
            if (s.apiName().equals(name)) {
                return s;
            }
        }
        return null;
    }

    public JobStatusCode toWire() {
        return JobStatusCode.valueOf(name());
    }

    public static JobStatus fromWire(JobStatusCode code) {
        return valueOf(code.name());
    }
}
