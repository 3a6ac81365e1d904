package io.inferq.dispatcher.runtime.contract;

import io.inferq.job.ChatRequestRules;
import java.util.regex.Pattern;

/**
 * The rules of the Kafka request contract that have no counterpart over HTTP: its headers (deadline, correlation id,
 * reply topic) and producer-chosen job ids. The rules a Kafka request shares with {@code POST /v1/jobs} and batch lines
 * are {@link ChatRequestRules}'. A check that fails throws {@link io.inferq.job.request.RequestRejected}. Stateless and
 * thread-safe.
 */
final class RequestRules {
    static final int MAX_CORRELATION_ID = 256;
    static final String DERIVED_JOB_ID_PREFIX = "job_k";
    /** Prefix of the job ids inferq derives from a tenant and the id its producer chose: not a hex digit, so never an HTTP id. */
    static final String SCOPED_JOB_ID_PREFIX = "job_t";
    private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final Pattern TOPIC = Pattern.compile("[A-Za-z0-9._-]{1,249}");

    private RequestRules() {
    }

    /** The {@code inferq-deadline} header: RFC 3339, or a positive duration from the record timestamp. */
    static long deadlineHeader(String value, long producedAtMs) {
        String v = value.trim();
        Long at = ChatRequestRules.parseTimestamp(v);
        if (at != null) {
            return at;
        }
        Long d = ChatRequestRules.parseDuration(v);
        if (d == null || d <= 0) {
            throw ChatRequestRules.invalid("invalid_deadline", "the " + ContractHeaders.DEADLINE + " header must be an RFC 3339 timestamp or a positive duration"
                    + " such as '90s', '5m', '2h' or 'PT30S', was '" + ChatRequestRules.abbreviate(value) + "'", ContractHeaders.DEADLINE);
        }
        return producedAtMs + d;
    }

    static void correlationId(String id) {
        if (id != null && (id.isEmpty() || id.length() > MAX_CORRELATION_ID)) {
            throw ChatRequestRules.invalid("invalid_correlation_id", "the correlation id must be 1-" + MAX_CORRELATION_ID + " characters", ContractHeaders.CORRELATION_ID);
        }
    }

    /**
     * A reply topic must be a legal topic name and must not be one of inferq's own topics (a reply to
     * {@code inferq.requests} would feed results back in as requests); {@code inferq.results} is allowed.
     */
    static void replyTopic(String topic) {
        if (topic == null) {
            return;
        }
        if (!TOPIC.matcher(topic).matches() || topic.equals(".") || topic.equals("..")) {
            throw ChatRequestRules.invalid("invalid_reply_topic", "the reply topic '" + ChatRequestRules.abbreviate(topic) + "' is not a legal Kafka topic name",
                    ContractHeaders.REPLY_TOPIC);
        }
        if (topic.startsWith("__")) {
            // Kafka's internal topics (__consumer_offsets, __transaction_state, ...): no client may write them, so a
            // result sent there would fail every time
            throw ChatRequestRules.invalid("invalid_reply_topic", "the reply topic '" + ChatRequestRules.abbreviate(topic) + "' is one of Kafka's internal"
                    + " topics (names starting with '__'); name a topic of your own", ContractHeaders.REPLY_TOPIC);
        }
        if (topic.startsWith("inferq.") && !topic.equals("inferq.results")) {
            throw ChatRequestRules.invalid("invalid_reply_topic", "the reply topic must not be one of inferq's own topics (inferq.*), except inferq.results",
                    ContractHeaders.REPLY_TOPIC);
        }
    }

    /**
     * A tenant may be limited to reply topics whose names start with a prefix; {@code inferq.results} (the default) is always
     * allowed.
     *
     * @param prefix the tenant's {@code reply-topic-prefix}, or null for any topic
     */
    static void replyTopicAllowed(String topic, String tenant, String prefix) {
        if (topic == null || prefix == null || topic.equals("inferq.results") || topic.startsWith(prefix)) {
            return;
        }
        throw ChatRequestRules.invalid("reply_topic_not_allowed", "tenant '" + tenant + "' may name only reply topics starting with '" + prefix
                + "' (or inferq.results), not '" + ChatRequestRules.abbreviate(topic) + "'", ContractHeaders.REPLY_TOPIC);
    }

    static void jobId(String id) {
        if (!JOB_ID.matcher(id).matches()) {
            throw ChatRequestRules.invalid("invalid_job_id", "a producer-chosen job id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-' "
                    + "starting with a letter or digit, was '" + ChatRequestRules.abbreviate(id) + "'", "job_id");
        }
        if (id.startsWith(DERIVED_JOB_ID_PREFIX) || id.startsWith(SCOPED_JOB_ID_PREFIX)) {
            // derived ids are predictable from a record's position: a producer must not be able to take one first
            throw ChatRequestRules.invalid("invalid_job_id", "job ids starting with '" + DERIVED_JOB_ID_PREFIX + "' or '" + SCOPED_JOB_ID_PREFIX
                    + "' are reserved for ids inferq derives",
                    "job_id");
        }
    }

}
