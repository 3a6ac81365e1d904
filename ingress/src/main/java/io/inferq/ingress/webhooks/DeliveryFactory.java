package io.inferq.ingress.webhooks;

import io.inferq.broker.avro.JobEvent;
import io.inferq.ingress.api.JobJson;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Makes the version-1 {@code PENDING} delivery an event calls for: from a job snapshot ({@link #forJob}) or from another
 * object's event ({@link #forEvent}). Ids are functions of subject and event type, so a repeated creation (another
 * process, a restart) yields the same {@code webhook-id}. Stateless apart from the clock; thread-safe.
 */
final class DeliveryFactory {
    private final WebhookSettings settings;
    private final Clock clock;

    DeliveryFactory(WebhookSettings settings, Clock clock) {
        this.settings = settings;
        this.clock = clock;
    }

    /**
     * The delivery this job snapshot calls for now, if any: none when the snapshot calls for no event, or when its
     * state is older than {@code creationHorizon} (history, not news).
     */
    Optional<Delivery> forJob(JobEvent e) {
        Optional<WebhookEventType> type = WebhookEventType.select(e);
        if (type.isEmpty()) {
            return Optional.empty();
        }
        long now = clock.millis();
        if (now - e.getAtMs() > settings.creationHorizon().toMillis()) {
            return Optional.empty();
        }
        String jobId = String.valueOf(e.getJobId());
        String payload = new JsonObject().put("type", type.get().wireName)
                .put("timestamp", Instant.ofEpochMilli(e.getAtMs()).toString())
                .put("data", JobJson.toJson(e, settings.inlineOutputLimit())).encode();
        return Optional.of(new Delivery(type.get().deliveryId(jobId), 1, Delivery.State.PENDING, String.valueOf(e.getTenant()), jobId,
                type.get().wireName, String.valueOf(e.getWebhookUrl()), payload, e.getAtMs(), 0, now, null, 0, now));
    }

    /** The delivery of an event about {@code subjectId} (a batch, ...) with {@code data} as the payload's data. */
    Delivery forEvent(String tenant, String subjectId, String type, String url, JsonObject data, long atMs) {
        long now = clock.millis();
        String payload = new JsonObject().put("type", type).put("timestamp", Instant.ofEpochMilli(atMs).toString())
                .put("data", data).encode();
        return new Delivery(eventDeliveryId(subjectId, type), 1, Delivery.State.PENDING, tenant, subjectId, type, url, payload,
                atMs, 0, now, null, 0, now);
    }

    /** The {@code webhook-id} of an event that is not a job's: a hash of subject and type. */
    static String eventDeliveryId(String subjectId, String type) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((subjectId + "\n" + type).getBytes(StandardCharsets.UTF_8));
            return "msg_" + HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }
}
