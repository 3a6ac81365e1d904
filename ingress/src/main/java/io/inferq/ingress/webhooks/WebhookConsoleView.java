package io.inferq.ingress.webhooks;

import io.inferq.ingress.api.ApiError;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The operator console's window on webhook deliveries: the same data and replay as {@link WebhookApi}, for one tenant
 * or (tenant {@code null}, the operator) for all. Reads the dispatcher's in-memory delivery state (bounded by its
 * {@code max-pending} live deliveries); never blocks.
 */
public final class WebhookConsoleView {
    private final WebhookDispatcher dispatcher;

    public WebhookConsoleView(WebhookDispatcher dispatcher) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
    }

    /**
     * @param tenant     null for every tenant
     * @param failedOnly only dead-lettered deliveries, else pending ones too
     * @return {@code {"object":"list","data":[delivery + "tenant"], "total"}}, newest first, at most {@code limit}
     */
    public JsonObject list(String tenant, boolean failedOnly, int limit) {
        List<Delivery> all = dispatcher.list(tenant, failedOnly ? EnumSet.of(Delivery.State.FAILED)
                : EnumSet.of(Delivery.State.FAILED, Delivery.State.PENDING));
        JsonArray data = new JsonArray();
        for (int i = 0; i < all.size() && i < limit; i++) {
            Delivery d = all.get(i);
            data.add(WebhookApi.toJson(d).put("tenant", d.tenant()));
        }
        return new JsonObject().put("object", "list").put("data", data).put("total", all.size())
                .put("has_more", all.size() > limit);
    }

    /** The answer to a replay: a delivery (202) or an error. */
    public record Replay(JsonObject delivery, ApiError error) {
    }

    /** Replays a failed delivery of {@code tenant} (null: any tenant's). Completes on the dispatcher's context. */
    public Future<Replay> replay(String tenant, String id) {
        return dispatcher.replay(tenant, id).map(r -> {
            if (r instanceof WebhookDispatcher.ReplayResult.Replayed ok) {
                return new Replay(WebhookApi.toJson(ok.delivery()), null);
            } else if (r instanceof WebhookDispatcher.ReplayResult.NotFailed nf) {
                return new Replay(null, ApiError.conflict("delivery_not_failed", "delivery " + id + " is "
                        + nf.delivery().state().name().toLowerCase(Locale.ROOT) + "; only failed deliveries can be replayed"));
            } else if (r instanceof WebhookDispatcher.ReplayResult.Unavailable u) {
                return new Replay(null, ApiError.unavailable("webhooks_unavailable", u.reason(), 1000));
            }
            return new Replay(null, ApiError.notFound("no webhook delivery " + id));
        });
    }
}
