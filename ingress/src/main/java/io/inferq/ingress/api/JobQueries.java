package io.inferq.ingress.api;

import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.view.JobView;
import io.inferq.job.JobStatus;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.function.Function;

/**
 * {@code GET /v1/jobs/{id}} and {@code GET /v1/jobs}: a tenant's jobs as the job view holds them. Handlers run on the
 * event loop; view reads go through {@code executeBlocking}.
 */
final class JobQueries {
    private final Vertx vertx;
    private final JobView view;
    private final MeterRegistry registry;
    private final Function<RoutingContext, Tenant> authenticate;

    /** @param authenticate the caller's tenant, or null after answering 401 */
    JobQueries(Vertx vertx, JobView view, MeterRegistry registry, Function<RoutingContext, Tenant> authenticate) {
        this.vertx = vertx;
        this.view = view;
        this.registry = registry;
        this.authenticate = authenticate;
    }

    void get(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        vertx.executeBlocking(() -> view.get(id), false).onComplete(ar -> {
            if (ar.failed()) {
                reject(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
            } else if (ar.result() == null || !ar.result().getTenant().equals(tenant.id())) {
                reject(ctx, ApiError.notFound("no job '" + id + "'"));
            } else {
                ctx.response().putHeader("Content-Type", "application/json").end(JobJson.toJson(ar.result(), Integer.MAX_VALUE).encode());
            }
        });
    }

    void list(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String statusParam = ctx.request().getParam("status");
        JobStatus status = null;
        if (statusParam != null) {
            status = JobStatus.fromApiName(statusParam);
            if (status == null) {
                reject(ctx, ApiError.invalid("invalid_status", "'status' must be one of queued, dispatched, running, succeeded, "
                        + "failed, cancelled, expired", "status"));
                return;
            }
        }
        int limit = 20;
        String limitParam = ctx.request().getParam("limit");
        if (limitParam != null) {
            try {
                limit = Integer.parseInt(limitParam);
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > JobsApi.MAX_LIST_LIMIT) {
                reject(ctx, ApiError.invalid("invalid_limit", "'limit' must be an integer between 1 and " + JobsApi.MAX_LIST_LIMIT, "limit"));
                return;
            }
        }
        String after = ctx.request().getParam("after");
        JobStatus s = status;
        int l = limit;
        vertx.executeBlocking(() -> view.list(tenant.id(), s, l, after), false).onComplete(ar -> {
            if (ar.failed() && ar.cause() instanceof JobView.UnknownCursor) {
                reject(ctx, ApiError.invalid("invalid_cursor", "'after' must be the id of one of your jobs (the last_id of "
                        + "a previous page); no job '" + after + "' is listed", "after"));
                return;
            }
            if (ar.failed()) {
                reject(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            JsonArray data = new JsonArray();
            ar.result().jobs().forEach(j -> data.add(JobJson.toJson(j, Integer.MAX_VALUE)));
            JsonObject page = new JsonObject().put("object", "list").put("data", data)
                    .put("first_id", data.isEmpty() ? null : data.getJsonObject(0).getString("id"))
                    .put("last_id", data.isEmpty() ? null : data.getJsonObject(data.size() - 1).getString("id"))
                    .put("has_more", ar.result().hasMore());
            ctx.response().putHeader("Content-Type", "application/json").end(page.encode());
        });
    }
    private void reject(RoutingContext ctx, ApiError error) {
        HttpErrors.reject(registry, ctx, error);
    }
}
