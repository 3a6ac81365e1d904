package io.inferq.loadtests.replay;

import java.util.concurrent.CompletableFuture;

/**
 * Where a replay submits jobs. {@link #submit} must not block for long: it returns a future completed when
 * the system accepted (or refused) the job, on some I/O thread. Implementations are thread-safe.
 */
public interface Target extends AutoCloseable {

    /**
     * The system's answer to a submit: HTTP status (202 = accepted; 0 = transport failure), job id, and for a refusal
     * its error code and message.
     */
    record Answer(int status, String jobId, String errorCode, String errorMessage) {
        public Answer(int status, String jobId, String errorCode) {
            this(status, jobId, errorCode, null);
        }
    }

    CompletableFuture<Answer> submit(String model, String prompt, int maxTokens);

    /** "http" or "kafka". */
    String kind();

    @Override
    void close();
}
