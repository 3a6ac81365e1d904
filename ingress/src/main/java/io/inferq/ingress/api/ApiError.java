package io.inferq.ingress.api;

import io.vertx.core.json.JsonObject;

/**
 * An OpenAI-style error answer: {@code {"error": {"type", "code", "message", "param"}}} with its
 * HTTP status. Expected failures are values of this type, never exceptions.
 *
 * @param status       HTTP status
 * @param type         {@code invalid_request_error}, {@code authentication_error}, {@code rate_limit_error}, ...
 * @param code         machine-readable code
 * @param message      what was wrong, for a person
 * @param param        the offending request field, or null
 * @param retryAfterMs for 429/503: when to try again, or 0
 */
public record ApiError(int status, String type, String code, String message, String param, long retryAfterMs) {

    public static ApiError invalid(String code, String message, String param) {
        return new ApiError(400, "invalid_request_error", code, message, param, 0);
    }

    /** A refused request as the HTTP API answers it: 404 for a model not served, 401 unauthenticated, else 400. */
    public static ApiError of(io.inferq.job.request.RequestError e) {
        return switch (e.kind()) {
            case UNKNOWN_MODEL -> new ApiError(404, "invalid_request_error", e.code(), e.message(), e.param(), 0);
            case UNAUTHENTICATED -> new ApiError(401, "authentication_error", e.code(), e.message(), e.param(), 0);
            default -> invalid(e.code(), e.message(), e.param());
        };
    }

    public static ApiError notFound(String what) {
        return new ApiError(404, "invalid_request_error", "not_found", what, null, 0);
    }

    public static ApiError conflict(String code, String message) {
        return new ApiError(409, "invalid_request_error", code, message, null, 0);
    }

    public static ApiError tooMany(String code, String message, long retryAfterMs) {
        return new ApiError(429, "rate_limit_error", code, message, null, retryAfterMs);
    }

    public static ApiError unavailable(String code, String message, long retryAfterMs) {
        return new ApiError(503, "server_error", code, message, null, retryAfterMs);
    }

    public static ApiError unauthorized(String message) {
        return new ApiError(401, "authentication_error", "invalid_api_key", message, null, 0);
    }

    public JsonObject toJson() {
        return new JsonObject().put("error", new JsonObject()
                .put("type", type).put("code", code).put("message", message).put("param", param));
    }
}
