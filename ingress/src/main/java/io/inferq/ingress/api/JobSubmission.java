package io.inferq.ingress.api;

import io.inferq.job.JobLane;
import io.inferq.job.request.ChatRequest;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A validated {@code POST /v1/jobs} (or {@code /v1/chat/completions}, or batch line) request: the {@link ChatRequest}
 * every entry point builds, plus what only HTTP has. Built by {@link JobSubmissionParser}.
 *
 * @param request      the chat request (its lane is always set: {@code interactive} unless {@code priority} said batch)
 * @param requestHash  SHA-256 of the canonical body, for idempotency checks
 * @param stream       {@code stream: true}: the answer is a stream of chunks, and the worker publishes text as it goes
 * @param includeUsage {@code stream_options.include_usage}
 */
public record JobSubmission(ChatRequest request, String requestHash, boolean stream, boolean includeUsage) {

    public String model() {
        return request.model();
    }

    public List<ChatRequest.Message> messages() {
        return request.messages();
    }

    public int maxTokens() {
        return request.maxTokens();
    }

    public Double temperature() {
        return request.temperature();
    }

    public JobLane lane() {
        return request.lane() == null ? JobLane.INTERACTIVE : request.lane();
    }

    public String webhookUrl() {
        return request.webhookUrl();
    }

    public Set<String> webhookEvents() {
        return request.webhookEvents();
    }

    public Map<String, String> metadata() {
        return request.metadata();
    }

    public Long deadlineAtMs() {
        return request.deadlineAtMs();
    }

    public int promptTokens() {
        return request.promptTokens();
    }

    public String optionsJson() {
        return request.optionsJson();
    }
}
