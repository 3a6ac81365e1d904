package io.inferq.job.request;

/**
 * Carries a {@link RequestError} out of a validator that stops at the first problem. Expected, so it has no stack
 * trace; every entry point catches it at its edge and answers with the error as a value.
 */
public final class RequestRejected extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient RequestError error;

    RequestRejected(RequestError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    public RequestError error() {
        return error;
    }
}
