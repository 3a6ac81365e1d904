package io.inferq.ingress.webhooks;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The webhook event types, and which one (if any) a job snapshot calls for.
 *
 * <p>Only the snapshot's current state is considered: {@code queued} and {@code running} are sent when the job's
 * {@code webhook_events} filter names them, {@code completed} on every terminal state. A state that was passed
 * through without the view seeing it (several changes between two reads) sends nothing: these are progress
 * notices, and the completed event carries the final state.
 */
enum WebhookEventType {
    QUEUED("job.queued", "queued"), RUNNING("job.running", "running"), COMPLETED("job.completed", "completed");

    final String wireName;
    final String filterName;

    WebhookEventType(String wireName, String filterName) {
        this.wireName = wireName;
        this.filterName = filterName;
    }

    /** @return the event this snapshot calls for, or empty (no webhook, filtered out, or a silent state) */
    static Optional<WebhookEventType> select(JobEvent e) {
        if (e.getWebhookUrl() == null || e.getWebhookUrl().isBlank()) {
            return Optional.empty();
        }
        JobStatus s = JobStatus.fromWire(e.getStatus());
        if (s.isTerminal()) {
            return Optional.of(COMPLETED);
        }
        WebhookEventType t = switch (s) {
            case QUEUED -> QUEUED;
            case RUNNING -> RUNNING;
            default -> null;
        };
        if (t == null) {
            return Optional.empty();
        }
        for (CharSequence f : e.getWebhookEvents()) {
            if (t.filterName.contentEquals(f)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /**
     * The {@code webhook-id} of this event of a job: a function of job id and event type only, so every retry,
     * every process and every restart (re-materialisation of the job view) sends the same id, and a receiver
     * can dedupe on it.
     */
    String deliveryId(String jobId) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((jobId + "\n" + wireName).getBytes(StandardCharsets.UTF_8));
            return "msg_" + HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    static WebhookEventType fromWire(String wire) {
        for (WebhookEventType t : values()) {
            if (t.wireName.equals(wire)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown webhook event type " + wire);
    }
}
