package io.inferq.ingress.api;

import io.inferq.job.JobLane;
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
 * @param optionsJson    the pass-through parameters ({@link OpenAiBodyFields#PASS_THROUGH}) as a JSON object, or null
 * @param stream         {@code stream: true}: the answer is a stream of chunks, and the worker publishes text as it goes
 * @param includeUsage   {@code stream_options.include_usage}
 */
public record JobSubmission(String model, List<Message> messages, int maxTokens, Double temperature, JobLane lane,
        String webhookUrl, Set<String> webhookEvents, Map<String, String> metadata, Long deadlineAtMs, int promptTokens,
        String requestHash, String optionsJson, boolean stream, boolean includeUsage) {

    public JobSubmission(String model, List<Message> messages, int maxTokens, Double temperature, JobLane lane,
            String webhookUrl, Set<String> webhookEvents, Map<String, String> metadata, Long deadlineAtMs, int promptTokens,
            String requestHash) {
        this(model, messages, maxTokens, temperature, lane, webhookUrl, webhookEvents, metadata, deadlineAtMs, promptTokens,
                requestHash, null, false, false);
    }

    /** One validated chat message; {@code toolCallsJson}, {@code toolCallId}, {@code name} may be null. */
    public record Message(String role, String content, String toolCallsJson, String toolCallId, String name) {
        public Message(String role, String content) {
            this(role, content, null, null, null);
        }
    }
}
