package io.inferq.job;

/** A change of job state that the transition table of {@link JobStatus} forbids: a bug, never user input. */
final class IllegalJobTransitionException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public IllegalJobTransitionException(String jobId, JobStatus from, JobStatus to) {
        super("job " + jobId + " cannot move from " + from.apiName() + " to " + to.apiName());
    }
}
