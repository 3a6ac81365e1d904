package io.inferq.ingress.api;

import io.inferq.broker.job.JobLane;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A validated {@code POST /v1/jobs} request. Built only by {@link JobSubmissionParser}, which checks
 * every field.
 *
 * @param model          a served model
 * @param messages       non-empty chat messages with valid roles
 * @param maxTokens      1..model's max output
 * @param temperature    0..2 or null
 * @param lane           interactive (default) or batch
 * @param webhookUrl     http(s) URL or null
 * @param webhookEvents  subset of queued, running, completed; always contains completed
 * @param metadata       at most 16 string pairs
 * @param deadlineAtMs   epoch ms after which the job must not start, or null
 * @param promptTokens   estimated prompt tokens (4 characters a token, plus 4 a message)
 * @param requestHash    SHA-256 of the canonical body, for idempotency checks
 */
public record JobSubmission(String model, List<Message> messages, int maxTokens, Double temperature, JobLane lane,
        String webhookUrl, Set<String> webhookEvents, Map<String, String> metadata, Long deadlineAtMs, int promptTokens,
        String requestHash) {

    /** One validated chat message. */
    public record Message(String role, String content) {
    }
}
