package io.inferq.loadtests.replay;

/** Finds out when accepted jobs reach their terminal state. Thread-safe. */
public interface Tracker extends AutoCloseable {

    /** Starts watching {@code outcome.jobId}; fills in its terminal fields when it ends. */
    void expect(JobOutcome outcome);

    /** Jobs finished so far (among those expected). */
    long finished();

    @Override
    void close();
}
