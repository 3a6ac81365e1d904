package io.inferq.workers.backend;

import java.util.List;

/**
 * Runs one batch of sequences on one instance of a pool (a set of chips holding one model).
 *
 * <p><b>Threading.</b> {@link #run} blocks until the batch is finished and is called on an engine thread of a worker
 * slot, never on an event loop. An implementation is called from several threads at once — one per batch in flight,
 * so several for the same instance ({@link BatchWork#instance()}), and several per stream when the dispatcher puts more
 * batches on an instance than it has streams (fair credits) — and must be thread-safe; batches on one instance share
 * that instance's engine. A call whose outcome is no longer wanted (its partition went to another slot, the worker
 * stops past its grace period) is interrupted: an implementation should end it early with
 * {@link InterruptedException}; one that does not holds its slot's engine thread until it ends.
 *
 * <p><b>Failure.</b> A sequence that fails carries an {@link InferenceError}; retriable errors are
 * retried by the caller (on another instance or pool, with a limit), fatal ones fail the job with the
 * engine's message. {@link #run} itself throws only for bugs or interruption.
 */
public interface InferenceBackend extends AutoCloseable {

    /** @return outcomes in the same order as {@code batch.sequences()} */
    List<SequenceOutcome> run(BatchWork batch) throws InterruptedException;

    /**
     * As {@link #run(BatchWork)}, also handing the text of sequences with {@link SequenceWork#streamTokens()} to
     * {@code sink} as it is generated. The default reports each streamed sequence's whole text when the batch ends.
     */
    default List<SequenceOutcome> run(BatchWork batch, TokenSink sink) throws InterruptedException {
        List<SequenceOutcome> outcomes = run(batch);
        for (int i = 0; i < outcomes.size(); i++) {
            if (batch.sequences().get(i).streamTokens() && outcomes.get(i) instanceof SequenceOutcome.Completed c
                    && !c.text().isEmpty()) {
                sink.tokens(c.jobId(), c.text());
            }
        }
        return outcomes;
    }

    /** @return a short description for logs and {@code /v1/models}, e.g. "simulated roofline" */
    String describe();

    @Override
    default void close() {
    }
}
