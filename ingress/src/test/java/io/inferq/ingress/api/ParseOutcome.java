package io.inferq.ingress.api;

import io.inferq.job.request.RequestRejected;
import java.util.function.Supplier;

/** A parse as these tests look at it: the submission, or the error the HTTP API answers for the request's refusal. */
record ParseOutcome(JobSubmission submission, ApiError error) {
    static ParseOutcome of(Supplier<JobSubmission> parse) {
        try {
            return new ParseOutcome(parse.get(), null);
        } catch (RequestRejected e) {
            return new ParseOutcome(null, ApiError.of(e.error()));
        }
    }
}
