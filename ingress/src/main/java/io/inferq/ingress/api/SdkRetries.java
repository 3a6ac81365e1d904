package io.inferq.ingress.api;

import io.vertx.core.MultiMap;
import io.vertx.core.json.JsonObject;

/**
 * How inferq keeps the OpenAI SDKs' automatic retries from duplicating work.
 *
 * <p>The official SDKs (Stainless-generated: Python, Node, Java, Go, ...) retry {@code 408}, {@code 409}, {@code 429}
 * and {@code 5xx} twice by default, send no {@code Idempotency-Key}, and number every attempt in
 * {@value #RETRY_COUNT_HEADER} ({@code 0} for the first). inferq therefore:
 * <ul>
 *   <li>marks every final answer ({@code expired}, {@code cancelled}, {@code failed}) {@value #SHOULD_RETRY}{@code :
 *       false}, the header the SDKs honour, so it is not retried at all;</li>
 *   <li>gives a request without {@code Idempotency-Key} but with {@value #RETRY_COUNT_HEADER} an implicit idempotency
 *       key, {@code sdk-retry:<SHA-256 of the body>} (per tenant): attempt {@code 0} is always a new job and takes the
 *       key over; a later attempt ({@code 1}, {@code 2}, ...) with the same body is answered as the job that key names
 *       (its completion or error, waiting for it if need be), so a retry after a timeout or a lost connection never
 *       becomes a second job. Two different callers sending the same body at the same moment, one of them retrying,
 *       may both be answered with the latest of the two jobs: send an {@code Idempotency-Key} to tell them apart.</li>
 * </ul>
 */
final class SdkRetries {
    static final String RETRY_COUNT_HEADER = "X-Stainless-Retry-Count";
    static final String SHOULD_RETRY = "x-should-retry";
    static final String KEY_PREFIX = "sdk-retry:";

    private SdkRetries() {
    }

    /** @return the SDK's attempt number (0 = first), or null when the request names none */
    static Integer attempt(MultiMap headers) {
        String v = headers.get(RETRY_COUNT_HEADER);
        if (v == null) {
            return null;
        }
        try {
            int n = Integer.parseInt(v.trim());
            return n < 0 ? null : n;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static String implicitKey(String requestHash) {
        return KEY_PREFIX + requestHash;
    }

    /** The {@code 504} body of a synchronous call whose job has not finished within the wait limit. */
    static JsonObject waitTimeout(String jobId, long waitedMs) {
        return new JsonObject().put("error", new JsonObject().put("type", "server_error").put("code", "wait_timeout")
                .put("message", "job " + jobId + " has not finished within " + waitedMs + " ms; it goes on: GET /v1/jobs/"
                        + jobId + " for its result")
                .put("param", null).put("job_id", jobId));
    }
}
