package io.inferq.ingress;

import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.api.ServedModel;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The HTTP front door: mounts the API routes, {@code /health}, {@code /ready}, {@code /metrics} and
 * {@code GET /v1/models}, and turns every failure into an OpenAI-style JSON error (no input produces
 * a 5xx: unknown routes are 404, wrong methods 405, oversized bodies 413).
 *
 * <p>Slow clients are bounded by {@link HttpLimits} (idle, header and body deadlines, a connection limit; see
 * {@link ConnectionGuard}); {@code /metrics} answers only callers that {@link OperatorAccess} allows.
 *
 * <p>One verticle; all handlers run on its event loop and never block.
 *
 * @see io.inferq.ingress.api.JobsApi
 */
public final class IngressServer extends VerticleBase {
    private final String host;
    private final int port;
    private final long maxBodyBytes;
    private final List<Consumer<Router>> apis;
    private final List<ServedModel> models;
    private final Supplier<Map<String, Boolean>> readiness;
    private final Supplier<String> metricsScrape;
    private final HttpLimits limits;
    private final OperatorAccess operator;
    private final io.micrometer.core.instrument.MeterRegistry registry;
    private ConnectionGuard guard;
    private HttpServer server;

    /**
     * @param maxBodyBytes  the largest body any tenant may send (per-tenant limits are checked after)
     * @param apis          route mounters (jobs, webhooks, batches, ...)
     * @param readiness     component name → ready; {@code /ready} is 200 only when all are true
     * @param metricsScrape Prometheus text exposition
     */
    public IngressServer(String host, int port, long maxBodyBytes, List<Consumer<Router>> apis, List<ServedModel> models,
            Supplier<Map<String, Boolean>> readiness, Supplier<String> metricsScrape) {
        this(host, port, maxBodyBytes, HttpLimits.DEFAULTS, apis, models, readiness, metricsScrape, OperatorAccess.OPEN,
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
    }

    /**
     * @param limits   timeouts and the connection limit
     * @param operator who may read {@code /metrics}
     * @param registry where the listener's own metrics go (connections, timeouts, refusals)
     */
    public IngressServer(String host, int port, long maxBodyBytes, HttpLimits limits, List<Consumer<Router>> apis,
            List<ServedModel> models, Supplier<Map<String, Boolean>> readiness, Supplier<String> metricsScrape,
            OperatorAccess operator, io.micrometer.core.instrument.MeterRegistry registry) {
        this.limits = java.util.Objects.requireNonNull(limits, "limits");
        this.operator = java.util.Objects.requireNonNull(operator, "operator");
        this.registry = java.util.Objects.requireNonNull(registry, "registry");
        this.host = host;
        this.port = port;
        this.maxBodyBytes = maxBodyBytes;
        this.apis = List.copyOf(apis);
        this.models = List.copyOf(models);
        this.readiness = readiness;
        this.metricsScrape = metricsScrape;
    }

    @Override
    public Future<?> start() {
        Router router = Router.router(vertx);
        BodyHandler bodies = BodyHandler.create(false).setBodyLimit(maxBodyBytes);
        // a file upload streams its body itself (never whole in memory)
        router.route().handler(ctx -> {
            if (io.inferq.ingress.files.FilesApi.isStreamedUpload(ctx.request())) {
                ctx.next();
            } else {
                bodies.handle(ctx);
            }
        });
        guard = new ConnectionGuard(vertx, limits, registry);
        router.get("/health").handler(ctx -> ctx.json(new JsonObject().put("status", "ok")));
        router.get("/ready").handler(ctx -> {
            Map<String, Boolean> parts = readiness.get();
            boolean ready = parts.values().stream().allMatch(Boolean::booleanValue);
            JsonObject body = new JsonObject().put("status", ready ? "ready" : "not_ready");
            JsonObject comps = new JsonObject();
            parts.forEach(comps::put);
            ctx.response().setStatusCode(ready ? 200 : 503).putHeader("Content-Type", "application/json")
                    .end(body.put("components", comps).encode());
        });
        router.get("/metrics").handler(ctx -> {
            if (!operator.allows(ctx.request().getHeader("Authorization"))) {
                HttpErrors.send(ctx, new ApiError(401, "authentication_error", "operator_key_required", operator.operatorKey() == null
                        ? "/metrics needs the operator key, and none is configured: set http.operator-key"
                        : "/metrics needs the operator key: send 'Authorization: Bearer <http.operator-key>'", null, 0));
                return;
            }
            ctx.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metricsScrape.get());
        });
        router.get("/v1/models").handler(ctx -> {
            JsonArray data = new JsonArray();
            for (ServedModel m : models) {
                data.add(model(m));
            }
            ctx.json(new JsonObject().put("object", "list").put("data", data));
        });
        router.get("/v1/models/:id").handler(ctx -> {
            String id = ctx.pathParam("id");
            models.stream().filter(m -> m.id().equals(id)).findFirst().ifPresentOrElse(m -> ctx.json(model(m)),
                    () -> HttpErrors.send(ctx, new ApiError(404, "invalid_request_error", "model_not_found", "the model '"
                            + id + "' does not exist or is not served here", "model", 0)));
        });
        apis.forEach(a -> a.accept(router));
        router.errorHandler(404, ctx -> HttpErrors.send(ctx, ApiError.notFound("no route for " + ctx.request().method()
                + " " + ctx.request().path())));
        router.errorHandler(405, ctx -> HttpErrors.send(ctx, new ApiError(405, "invalid_request_error", "method_not_allowed",
                ctx.request().method() + " is not allowed on " + ctx.request().path(), null, 0)));
        router.errorHandler(413, ctx -> HttpErrors.send(ctx, new ApiError(413, "invalid_request_error", "request_too_large",
                "the request body is larger than " + maxBodyBytes + " bytes", null, 0)));
        router.errorHandler(400, ctx -> HttpErrors.send(ctx, ApiError.invalid("bad_request",
                ctx.failure() == null ? "malformed request" : ctx.failure().getMessage(), null)));
        router.errorHandler(500, ctx -> HttpErrors.send(ctx, new ApiError(500, "server_error", "internal_error",
                "internal error: " + (ctx.failure() == null ? "unknown" : ctx.failure().getClass().getSimpleName()), null, 0)));
        // no Netty idle timeout: it would also cut a synchronous call that waits quietly for its job (ConnectionGuard
        // applies the idle deadline only between requests); HTTP/1.1 only: sniffing for an h2c preface would hide a
        // connection from the guard until its first bytes
        io.vertx.core.http.HttpServerOptions options = new io.vertx.core.http.HttpServerOptions()
                .setHttp2ClearTextEnabled(false);
        return vertx.createHttpServer(options).connectionHandler(guard::opened).requestHandler(req -> {
            guard.requestStarted(req);
            router.handle(req);
        }).listen(port, host).onSuccess(s -> server = s);
    }

    /** A model in OpenAI's shape ({@code created}: integer Unix seconds) with inferq's limits and pools. */
    private static JsonObject model(ServedModel m) {
        return new JsonObject().put("id", m.id()).put("object", "model").put("created", 0L)
                .put("owned_by", m.ownedBy()).put("context_length", m.contextTokens())
                .put("max_prompt_tokens", m.maxPromptTokens())
                .put("max_output_tokens", m.maxOutputTokens()).put("pools", new JsonArray(m.pools()));
    }

    /** @return the bound port (useful when 0 was configured) */
    public int actualPort() {
        return server == null ? -1 : server.actualPort();
    }

    @Override
    public Future<?> stop() {
        if (guard != null) {
            guard.stop();
        }
        return server == null ? Future.succeededFuture() : server.close();
    }
}
