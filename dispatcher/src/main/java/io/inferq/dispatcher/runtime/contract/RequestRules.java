package io.inferq.dispatcher.runtime.contract;

import io.inferq.job.ChatRequestRules;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The validation rules a Kafka request shares with {@code POST /v1/jobs}: the same limits and the same
 * error codes, written again here because the dispatcher must not depend on the ingress module (a test
 * in the server module checks that both accept and refuse the same bodies). Stateless and thread-safe.
 */
final class RequestRules {
    static final int MAX_MESSAGES = ChatRequestRules.MAX_MESSAGES;
    static final int MAX_METADATA_PAIRS = ChatRequestRules.MAX_METADATA_PAIRS;
    static final int MAX_METADATA_KEY = ChatRequestRules.MAX_METADATA_KEY;
    static final int MAX_METADATA_VALUE = ChatRequestRules.MAX_METADATA_VALUE;
    static final Duration MAX_DEADLINE = ChatRequestRules.MAX_DEADLINE;
    static final int MAX_CORRELATION_ID = 256;
    static final String DERIVED_JOB_ID_PREFIX = "job_k";
    /** Prefix of the job ids inferq derives from a tenant and the id its producer chose: not a hex digit, so never an HTTP id. */
    static final String SCOPED_JOB_ID_PREFIX = "job_t";
    static final Set<String> ROLES = ChatRequestRules.ROLES;
    static final Set<String> WEBHOOK_EVENTS = ChatRequestRules.WEBHOOK_EVENTS;
    private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final Pattern TOPIC = Pattern.compile("[A-Za-z0-9._-]{1,249}");

    private RequestRules() {
    }

    static RequestContractException.Invalid invalid(String code, String message, String param) {
        return new RequestContractException.Invalid(code, message, param);
    }

    static ServedModelLimits model(String model, Map<String, ServedModelLimits> models) throws RequestContractException.Invalid {
        if (model == null || model.isBlank()) {
            throw invalid("missing_model", "'model' is required and must be a string", "model");
        }
        ServedModelLimits served = models.get(model);
        if (served == null) {
            throw invalid("model_not_found", "the model '" + ChatRequestRules.abbreviate(model) + "' does not exist or is not served here; served models: "
                    + models.keySet(), "model");
        }
        return served;
    }

    static void messageCount(int n) throws RequestContractException.Invalid {
        if (n == 0) {
            throw invalid("invalid_messages", "'messages' must contain at least one message", "messages");
        }
        if (n > MAX_MESSAGES) {
            throw invalid("invalid_messages", "'messages' has " + n + " entries; at most " + MAX_MESSAGES + " are accepted", "messages");
        }
    }

    static void role(int i, Object role) throws RequestContractException.Invalid {
        if (!(role instanceof String r) || !ROLES.contains(r)) {
            String param = "messages[" + i + "].role";
            throw invalid("invalid_role", param + " must be one of " + new java.util.TreeSet<>(ROLES)
                    + ", was " + (role == null ? "missing" : "'" + role + "'"), param);
        }
    }

    /** The HTTP API's estimate: a token per 4 characters plus 4 per message. */
    static int estimatePromptTokens(long chars, int messages) {
        return (int) Math.min(Integer.MAX_VALUE, (chars + 3) / 4 + 4L * messages);
    }

    /** @param requested null: the default ({@code min(1024, max output)}) */
    static int maxTokens(Long requested, ServedModelLimits served) throws RequestContractException.Invalid {
        if (requested == null) {
            return Math.min(1024, served.maxOutputTokens());
        }
        if (requested < 1 || requested > served.maxOutputTokens()) {
            throw invalid("invalid_max_tokens", "'max_tokens' must be between 1 and " + served.maxOutputTokens() + " for "
                    + served.id() + ", was " + requested, "max_tokens");
        }
        return requested.intValue();
    }

    static void context(int promptTokens, int maxTokens, ServedModelLimits served) throws RequestContractException.Invalid {
        if ((long) promptTokens + maxTokens > served.contextTokens()) {
            throw invalid("context_length_exceeded", "the prompt (about " + promptTokens + " tokens) plus max_tokens (" + maxTokens
                    + ") exceeds " + served.id() + "'s context of " + served.contextTokens() + " tokens", "messages");
        }
    }

    static void temperature(Double t) throws RequestContractException.Invalid {
        if (t != null && (t.isNaN() || t < 0 || t > 2)) {
            throw invalid("invalid_temperature", "'temperature' must be a number between 0 and 2", "temperature");
        }
    }

    static void webhook(String url) throws RequestContractException.Invalid {
        if (url == null) {
            return;
        }
        String problem = ChatRequestRules.webhookProblem(url);
        if (problem != null) {
            throw invalid("invalid_webhook", problem, "webhook");
        }
    }

    static void webhookEvent(Object ev) throws RequestContractException.Invalid {
        if (!(ev instanceof String s) || !WEBHOOK_EVENTS.contains(s)) {
            throw invalid("invalid_webhook_events_filter", "'webhook_events_filter' may contain only 'queued', 'running', 'completed', found "
                    + ev, "webhook_events_filter");
        }
    }

    static void metadataSize(int pairs) throws RequestContractException.Invalid {
        if (pairs > MAX_METADATA_PAIRS) {
            throw invalid("invalid_metadata", "'metadata' has " + pairs + " pairs; at most " + MAX_METADATA_PAIRS + " are allowed", "metadata");
        }
    }

    static void metadataPair(String k, Object v) throws RequestContractException.Invalid {
        if (k.length() > MAX_METADATA_KEY || !(v instanceof String sv) || sv.length() > MAX_METADATA_VALUE) {
            throw invalid("invalid_metadata", "metadata keys must be at most " + MAX_METADATA_KEY + " characters and values strings of at most "
                    + MAX_METADATA_VALUE + " characters (key '" + ChatRequestRules.abbreviate(k) + "')", "metadata." + ChatRequestRules.abbreviate(k));
        }
    }

    /**
     * Checks a deadline against the time the record was produced (not the time it is read: a record
     * that waited in Kafka past its deadline is a valid job that expires, not a bad record).
     */
    static void deadline(Long deadlineAtMs, long producedAtMs) throws RequestContractException.Invalid {
        if (deadlineAtMs == null) {
            return;
        }
        if (deadlineAtMs <= producedAtMs) {
            throw invalid("invalid_deadline", "the deadline is before the record was produced", "deadline");
        }
        if (deadlineAtMs - producedAtMs > MAX_DEADLINE.toMillis()) {
            throw invalid("invalid_deadline", "the deadline is more than " + MAX_DEADLINE.toDays() + " days away", "deadline");
        }
    }

    /** The {@code inferq-deadline} header: RFC 3339, or a positive duration from the record timestamp. */
    static long deadlineHeader(String value, long producedAtMs) throws RequestContractException.Invalid {
        String v = value.trim();
        Long at = ChatRequestRules.parseTimestamp(v);
        if (at != null) {
            return at;
        }
        Long d = ChatRequestRules.parseDuration(v);
        if (d == null || d <= 0) {
            throw invalid("invalid_deadline", "the " + ContractHeaders.DEADLINE + " header must be an RFC 3339 timestamp or a positive duration"
                    + " such as '90s', '5m', '2h' or 'PT30S', was '" + ChatRequestRules.abbreviate(value) + "'", ContractHeaders.DEADLINE);
        }
        return producedAtMs + d;
    }

    /** The body's {@code deadline}: RFC 3339 or epoch seconds, as in the HTTP API. */
    static Long parseBodyDeadline(Object dl) {
        if (dl instanceof Number n) {
            double v = n.doubleValue();
            return v > 0 && v < 1e11 ? (long) (v * 1000) : null;
        }
        return ChatRequestRules.parseDeadline(dl);
    }

    static void correlationId(String id) throws RequestContractException.Invalid {
        if (id != null && (id.isEmpty() || id.length() > MAX_CORRELATION_ID)) {
            throw invalid("invalid_correlation_id", "the correlation id must be 1-" + MAX_CORRELATION_ID + " characters", ContractHeaders.CORRELATION_ID);
        }
    }

    /**
     * A reply topic must be a legal topic name and must not be one of inferq's own topics (a reply to
     * {@code inferq.requests} would feed results back in as requests); {@code inferq.results} is allowed.
     */
    static void replyTopic(String topic) throws RequestContractException.Invalid {
        if (topic == null) {
            return;
        }
        if (!TOPIC.matcher(topic).matches() || topic.equals(".") || topic.equals("..")) {
            throw invalid("invalid_reply_topic", "the reply topic '" + ChatRequestRules.abbreviate(topic) + "' is not a legal Kafka topic name",
                    ContractHeaders.REPLY_TOPIC);
        }
        if (topic.startsWith("__")) {
            // Kafka's internal topics (__consumer_offsets, __transaction_state, ...): no client may write them, so a
            // result sent there would fail every time
            throw invalid("invalid_reply_topic", "the reply topic '" + ChatRequestRules.abbreviate(topic) + "' is one of Kafka's internal"
                    + " topics (names starting with '__'); name a topic of your own", ContractHeaders.REPLY_TOPIC);
        }
        if (topic.startsWith("inferq.") && !topic.equals("inferq.results")) {
            throw invalid("invalid_reply_topic", "the reply topic must not be one of inferq's own topics (inferq.*), except inferq.results",
                    ContractHeaders.REPLY_TOPIC);
        }
    }

    /**
     * A tenant may be limited to reply topics whose names start with a prefix; {@code inferq.results} (the default) is always
     * allowed.
     *
     * @param prefix the tenant's {@code reply-topic-prefix}, or null for any topic
     */
    static void replyTopicAllowed(String topic, String tenant, String prefix) throws RequestContractException.Invalid {
        if (topic == null || prefix == null || topic.equals("inferq.results") || topic.startsWith(prefix)) {
            return;
        }
        throw invalid("reply_topic_not_allowed", "tenant '" + tenant + "' may name only reply topics starting with '" + prefix
                + "' (or inferq.results), not '" + ChatRequestRules.abbreviate(topic) + "'", ContractHeaders.REPLY_TOPIC);
    }

    static void jobId(String id) throws RequestContractException.Invalid {
        if (!JOB_ID.matcher(id).matches()) {
            throw invalid("invalid_job_id", "a producer-chosen job id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-' "
                    + "starting with a letter or digit, was '" + ChatRequestRules.abbreviate(id) + "'", "job_id");
        }
        if (id.startsWith(DERIVED_JOB_ID_PREFIX) || id.startsWith(SCOPED_JOB_ID_PREFIX)) {
            // derived ids are predictable from a record's position: a producer must not be able to take one first
            throw invalid("invalid_job_id", "job ids starting with '" + DERIVED_JOB_ID_PREFIX + "' or '" + SCOPED_JOB_ID_PREFIX
                    + "' are reserved for ids inferq derives",
                    "job_id");
        }
    }

}
