package io.inferq.ingress.api;

import io.vertx.ext.web.RoutingContext;

/** Writes {@link ApiError}s as OpenAI-style JSON responses. */
public final class HttpErrors {
    private HttpErrors() {
    }

    /** Counts the refusal ({@code inferq.ingress.rejections} by code) and sends it. */
    static void reject(io.micrometer.core.instrument.MeterRegistry registry, RoutingContext ctx, ApiError error) {
        registry.counter("inferq.ingress.rejections", "code", error.code()).increment();
        send(ctx, error);
    }

    public static void send(RoutingContext ctx, ApiError error) {
        if (ctx.response().ended()) {
            return;
        }
        var resp = ctx.response().setStatusCode(error.status()).putHeader("Content-Type", "application/json");
        if (error.retryAfterMs() > 0) {
            resp.putHeader("Retry-After", String.valueOf(Math.max(1, (error.retryAfterMs() + 999) / 1000)));
        }
        resp.end(error.toJson().encode());
    }
}
