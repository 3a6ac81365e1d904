package io.inferq.job.request;

import io.inferq.job.ChatRequestRules;
import io.inferq.job.JobLane;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A chat-completions request that passed every rule, whichever way it came in: {@code POST /v1/jobs} and
 * {@code /v1/chat/completions}, a batch line, or a Kafka record (JSON or Avro). It validates itself: the constructor checks what
 * a request must hold on its own ({@link ChatRequestRules}) and throws {@link RequestRejected} with the
 * {@link RequestError} every entry point reports; what depends on the served model (the {@code max_tokens} range, the
 * context window) is checked by the reader against the model's {@link ModelLimits} before it builds one. Immutable.
 *
 * @param model         a served model
 * @param messages      1..{@value ChatRequestRules#MAX_MESSAGES} messages with valid roles
 * @param maxTokens     at least 1
 * @param promptTokens  the prompt estimate ({@link ChatRequestRules#estimatePromptTokens})
 * @param temperature   0..2, or null
 * @param lane          {@code priority}, or null when not given (the entry point's default applies)
 * @param webhookUrl    an http(s) URL, or null
 * @param webhookEvents events to deliver; always contains {@code completed}
 * @param metadata      at most {@value ChatRequestRules#MAX_METADATA_PAIRS} string pairs
 * @param deadlineAtMs  epoch ms after which the job must not start, or null
 * @param optionsJson   the OpenAI parameters passed through to the engine, as a JSON object, or null
 */
public record ChatRequest(String model, List<Message> messages, int maxTokens, int promptTokens, Double temperature, JobLane lane,
        String webhookUrl, Set<String> webhookEvents, Map<String, String> metadata, Long deadlineAtMs, String optionsJson) {

    /** One chat message; {@code toolCallsJson}, {@code toolCallId} and {@code name} may be null. */
    public record Message(String role, String content, String toolCallsJson, String toolCallId, String name) {
        public Message(String role, String content) {
            this(role, content, null, null, null);
        }
    }

    public ChatRequest {
        if (model == null || model.isBlank()) {
            throw ChatRequestRules.invalid("missing_model", "'model' is required and must be a string", "model");
        }
        messages = List.copyOf(messages);
        ChatRequestRules.messageCount(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            ChatRequestRules.role(i, messages.get(i).role());
        }
        if (maxTokens < 1) {
            throw ChatRequestRules.invalid("invalid_max_tokens", "'max_tokens' must be at least 1, was " + maxTokens, "max_tokens");
        }
        if (promptTokens < 0) {
            throw new IllegalArgumentException("the prompt estimate must not be negative, was " + promptTokens);
        }
        ChatRequestRules.temperature(temperature);
        ChatRequestRules.webhook(webhookUrl);
        // checked in the caller's order before copying (a copy's order is unspecified): the first problem is always the same one
        webhookEvents.forEach(ChatRequestRules::webhookEvent);
        webhookEvents = Set.copyOf(webhookEvents);
        if (!webhookEvents.contains("completed")) {
            throw new IllegalArgumentException("webhook events must include 'completed'");
        }
        ChatRequestRules.metadataSize(metadata.size());
        metadata.forEach(ChatRequestRules::metadataPair);
        metadata = Map.copyOf(metadata);
    }
}
