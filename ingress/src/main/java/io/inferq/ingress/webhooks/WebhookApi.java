package io.inferq.ingress.webhooks;

import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.tenants.Tenant;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * The webhook delivery endpoints, tenant-scoped (another tenant's delivery is a {@code 404}):
 * <ul>
 *   <li>{@code GET /v1/webhooks/deliveries?status=failed|pending&limit=1..100&after=<id>} — newest first,
 *       OpenAI list shape {@code {"object":"list","data":[...],"has_more"}}; without {@code status} both.</li>
 *   <li>{@code POST /v1/webhooks/deliveries/{id}/replay} — a failed delivery is queued again with attempts
 *       reset and the same {@code webhook-id}; {@code 202} with the delivery, {@code 409 delivery_not_failed}
 *       when it is not failed.</li>
 * </ul>
 * Handlers run on the HTTP server's event loop and never block.
 */
public final class WebhookApi {
    static final int MAX_LIMIT = 100;

    private final WebhookDispatcher dispatcher;
    private final Function<RoutingContext, Tenant> authenticate;

    /**
     * @param dispatcher   the delivery state
     * @param authenticate returns the caller's tenant, or null after it has answered {@code 401} itself
     */
    public WebhookApi(WebhookDispatcher dispatcher, Function<RoutingContext, Tenant> authenticate) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.authenticate = Objects.requireNonNull(authenticate, "authenticate");
    }

    public void mount(Router router) {
        router.get("/v1/webhooks/deliveries").handler(this::list);
        router.post("/v1/webhooks/deliveries/:id/replay").handler(this::replay);
    }

    private void list(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        Set<Delivery.State> states;
        String status = ctx.queryParams().get("status");
        if (status == null) {
            states = EnumSet.of(Delivery.State.PENDING, Delivery.State.FAILED);
        } else if (status.equals("failed")) {
            states = EnumSet.of(Delivery.State.FAILED);
        } else if (status.equals("pending")) {
            states = EnumSet.of(Delivery.State.PENDING);
        } else {
            HttpErrors.send(ctx, ApiError.invalid("invalid_status", "'status' must be 'failed' or 'pending'", "status"));
            return;
        }
        int limit = 20;
        String l = ctx.queryParams().get("limit");
        if (l != null) {
            try {
                limit = Integer.parseInt(l);
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > MAX_LIMIT) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_limit", "'limit' must be an integer from 1 to " + MAX_LIMIT, "limit"));
                return;
            }
        }
        List<Delivery> all = dispatcher.list(tenant.id(), states);
        String after = ctx.queryParams().get("after");
        int from = 0;
        if (after != null) {
            from = -1;
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).id().equals(after)) {
                    from = i + 1;
                    break;
                }
            }
            if (from < 0) {
                HttpErrors.send(ctx, ApiError.invalid("invalid_cursor", "'after' must be the id of a listed delivery", "after"));
                return;
            }
        }
        List<Delivery> page = all.subList(from, Math.min(all.size(), from + limit));
        JsonArray data = new JsonArray();
        page.forEach(d -> data.add(toJson(d)));
        JsonObject body = new JsonObject().put("object", "list").put("data", data)
                .put("first_id", page.isEmpty() ? null : page.get(0).id())
                .put("last_id", page.isEmpty() ? null : page.get(page.size() - 1).id())
                .put("has_more", from + page.size() < all.size());
        ctx.response().putHeader("Content-Type", "application/json").end(body.encode());
    }

    private void replay(RoutingContext ctx) {
        Tenant tenant = authenticate.apply(ctx);
        if (tenant == null) {
            return;
        }
        String id = ctx.pathParam("id");
        Context here = Vertx.currentContext();
        dispatcher.replay(tenant.id(), id).onComplete(ar -> here.runOnContext(v -> {
            if (ar.failed()) {
                HttpErrors.send(ctx, ApiError.unavailable("replay_failed", "replay failed: " + ar.cause().getMessage(), 1000));
                return;
            }
            WebhookDispatcher.ReplayResult r = ar.result();
            if (r instanceof WebhookDispatcher.ReplayResult.Replayed ok) {
                ctx.response().setStatusCode(202).putHeader("Content-Type", "application/json").end(toJson(ok.delivery()).encode());
            } else if (r instanceof WebhookDispatcher.ReplayResult.NotFailed nf) {
                HttpErrors.send(ctx, ApiError.conflict("delivery_not_failed", "delivery " + id + " is "
                        + nf.delivery().state().name().toLowerCase(java.util.Locale.ROOT) + "; only failed deliveries can be replayed"));
            } else if (r instanceof WebhookDispatcher.ReplayResult.Unavailable u) {
                HttpErrors.send(ctx, ApiError.unavailable("webhooks_unavailable", u.reason(), 1000));
            } else {
                HttpErrors.send(ctx, ApiError.notFound("no webhook delivery " + id));
            }
        }));
    }

    static JsonObject toJson(Delivery d) {
        return new JsonObject()
                .put("id", d.id())
                .put("object", "webhook.delivery")
                .put("status", d.state().name().toLowerCase(java.util.Locale.ROOT))
                .put("event_type", d.eventType())
                .put("job_id", d.jobId())
                .put("url", d.url())
                .put("attempts", d.attempts())
                .put("next_attempt_at", d.state() == Delivery.State.PENDING ? seconds(d.nextAttemptAtMs()) : null)
                .put("last_error", d.lastError())
                .put("last_status_code", d.lastStatus() == 0 ? null : d.lastStatus())
                .put("created_at", seconds(d.createdAtMs()))
                .put("updated_at", seconds(d.updatedAtMs()));
    }

    private static double seconds(long ms) {
        return ms / 1000.0;
    }
}
