package io.inferq.dispatcher.runtime.contract;

import io.inferq.job.ChatRequestRules;
import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.job.JobLane;
import io.inferq.job.request.ChatRequest;
import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.runtime.RequestDecoding;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import org.apache.avro.Schema;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * The Kafka request contract: turns any record of {@code inferq.requests} / {@code inferq.requests.batch}
 * into a job, or into the reason it goes to the dead-letter topic.
 *
 * <p><b>Who wrote the record.</b> Records signed with {@link TrustedOrigin} (the HTTP ingress, a worker
 * handing a job back) are inferq's own: decoded as Avro and taken as they are — they were validated
 * and their {@code queued} event written already. A record claiming an inferq origin with a wrong
 * signature is refused. Every other record is an external producer's:
 * <ol>
 *   <li>authenticated by {@code inferq-tenant} + {@code inferq-api-key} ({@link TenantCheck});</li>
 *   <li>decoded as JSON ({@code content-type: application/json}: an OpenAI chat-completions body) or
 *       Avro single-object {@code JobRequest} (no content type, or {@code avro/binary});</li>
 *   <li>checked with the HTTP API's rules and error codes;</li>
 *   <li>given a job id: derived from the tenant and the producer's id ({@code inferq-job-id} header, else the Avro
 *       {@code job_id}) — ids are scoped per tenant — else derived from the record's topic, partition, offset and
 *       timestamp — so a redelivery after a crash is the same job, never a second one;</li>
 *   <li>returned with a {@code queued} event for the dispatcher to write, {@code source = "kafka"}.</li>
 * </ol>
 *
 * <p>Deterministic: the outcome depends only on the record (its bytes, headers, position and
 * timestamp) and the configuration, never on the time it is read — a redelivered record yields the
 * same job or the same rejection. Thread-safe and non-blocking.
 */
public final class KafkaRequestContract implements Function<ConsumerRecord<String, byte[]>, RequestDecoding.Result> {
    private final Map<String, ServedModelLimits> models;
    private final TenantCheck tenants;
    private final TrustedOrigin origin;
    private final ReplyTopicCheck replyTopics;
    private final AvroSerde<JobRequest> avro;
    private final Clock clock;
    private final Map<String, String> replyTopicPrefixes;
    private final WebhookTargetCheck webhookTargets;

    /**
     * @param models              the models the fleet serves, with their limits
     * @param tenants             authenticates external producers
     * @param origin              recognises inferq's own records
     * @param replyTopics         whether a requested reply topic exists
     * @param olderRequestSchemas earlier published versions of {@code JobRequest.avsc} producers may still write
     * @param clock               only for records without a timestamp
     */
    public KafkaRequestContract(Collection<ServedModelLimits> models, TenantCheck tenants, TrustedOrigin origin,
            ReplyTopicCheck replyTopics, List<Schema> olderRequestSchemas, Clock clock) {
        Map<String, ServedModelLimits> m = new LinkedHashMap<>();
        for (ServedModelLimits s : models) {
            if (m.put(s.id(), s) != null) {
                throw new IllegalArgumentException("model " + s.id() + " is listed twice");
            }
        }
        this.models = Map.copyOf(m);
        this.tenants = Objects.requireNonNull(tenants, "tenant check must not be null");
        this.origin = Objects.requireNonNull(origin, "origin check must not be null");
        this.replyTopics = Objects.requireNonNull(replyTopics, "reply topic check must not be null");
        this.avro = new AvroSerde<>(JobRequest.class, olderRequestSchemas);
        this.clock = Objects.requireNonNull(clock, "clock must not be null");
        this.replyTopicPrefixes = Map.of();
        this.webhookTargets = WebhookTargetCheck.ANY;
    }

    private KafkaRequestContract(KafkaRequestContract from, Map<String, String> replyTopicPrefixes, WebhookTargetCheck webhookTargets) {
        this.models = from.models;
        this.tenants = from.tenants;
        this.origin = from.origin;
        this.replyTopics = from.replyTopics;
        this.avro = from.avro;
        this.clock = from.clock;
        this.replyTopicPrefixes = Map.copyOf(replyTopicPrefixes);
        this.webhookTargets = Objects.requireNonNull(webhookTargets, "webhook target check must not be null");
    }

    /**
     * This contract, with tenants limited to reply topics whose names start with a prefix: a request of such a tenant
     * naming another topic (other than {@code inferq.results}) is dead-lettered with {@code reply_topic_not_allowed}.
     *
     * @param prefixByTenant tenant id → the prefix its reply topics must start with; tenants not listed may name any topic
     */
    public KafkaRequestContract withReplyTopicPrefixes(Map<String, String> prefixByTenant) {
        prefixByTenant.forEach((tenant, prefix) -> {
            if (prefix == null || prefix.isEmpty()) {
                throw new IllegalArgumentException("tenants[" + tenant + "].reply-topic-prefix must not be empty");
            }
        });
        return new KafkaRequestContract(this, prefixByTenant, webhookTargets);
    }

    /**
     * This contract, with {@code webhook} URLs checked at intake by the same rules as {@code POST /v1/jobs} (the HTTP
     * API's webhook target policy: no private, loopback or metadata targets unless allowed), so a refused target is
     * dead-lettered with {@code invalid_webhook} instead of being accepted and refused at every delivery attempt.
     */
    public KafkaRequestContract withWebhookTargets(WebhookTargetCheck check) {
        return new KafkaRequestContract(this, replyTopicPrefixes, check);
    }

    /**
     * The contract as the server wires it: tenants from the configuration (none: open mode), the
     * origin key derived from them.
     *
     * @param apiKeysByTenant configured tenant id → API keys
     */
    public static KafkaRequestContract forTenants(Collection<ServedModelLimits> models,
            Map<String, ? extends Collection<String>> apiKeysByTenant, ReplyTopicCheck replyTopics, Clock clock) {
        return new KafkaRequestContract(models, TenantCheck.of(apiKeysByTenant), TrustedOrigin.forTenants(apiKeysByTenant), replyTopics,
                List.of(), clock);
    }

    /** {@link #forTenants(Collection, Map, ReplyTopicCheck, Clock)} without checking that reply topics exist. */
    public static KafkaRequestContract forTenants(Collection<ServedModelLimits> models,
            Map<String, ? extends Collection<String>> apiKeysByTenant, Clock clock) {
        return forTenants(models, apiKeysByTenant, ReplyTopicCheck.ANY, clock);
    }

    @Override
    public RequestDecoding.Result apply(ConsumerRecord<String, byte[]> record) {
        try {
            return decode(record);
        } catch (RequestRejected e) {
            return RequestDecoding.Result.reject(e.error());
        }
    }

    /** @throws RequestRejected when the record goes to the dead-letter topic */
    public RequestDecoding.Result decode(ConsumerRecord<String, byte[]> record) {
        byte[] value = record.value();
        if (value == null || value.length == 0) {
            throw RequestError.undecodable("empty_record", "the record has no value").rejected();
        }
        switch (origin.verify(record.headers(), value)) {
            case INGRESS, WORKER:
                return RequestDecoding.Result.ok(decodeAvro(value));
            case FORGED:
                throw RequestError.unauthenticated("invalid_origin", "the record claims to come from inferq ("
                        + TrustedOrigin.ORIGIN_HEADER + ") but its " + TrustedOrigin.SIGNATURE_HEADER + " is missing or wrong").rejected();
            default:
                return external(record, value);
        }
    }

    private RequestDecoding.Result external(ConsumerRecord<String, byte[]> record, byte[] value) {
        String tenantHeader = header(record, ContractHeaders.TENANT);
        String tenant = tenants.authenticate(tenantHeader, header(record, ContractHeaders.API_KEY)).orElseThrow(() ->
                RequestError.unauthenticated("invalid_api_key", tenantHeader == null
                        ? "the record names no tenant: set the " + ContractHeaders.TENANT + " and " + ContractHeaders.API_KEY + " headers"
                        : "unknown tenant '" + ChatRequestRules.abbreviate(tenantHeader) + "' or wrong " + ContractHeaders.API_KEY).rejected());
        long producedAt = record.timestamp() > 0 ? record.timestamp() : clock.millis();
        JobLane topicLane = TopicCatalogue.REQUESTS_BATCH.equals(record.topic()) ? JobLane.BATCH : JobLane.INTERACTIVE;
        String contentType = contentType(record);
        if (contentType == null && RejectionReply.looksLikeJson(value)) {
            contentType = ContractHeaders.JSON; // a JSON object sent without content-type (Avro starts with 0xC3 0x01)
        }
        JobRequest.Builder b;
        Long bodyDeadline;
        String givenJobId;
        if (ContractHeaders.JSON.equals(contentType)) {
            JsonChatRequest.Read read = JsonChatRequest.read(value, models);
            ChatRequest d = read.request();
            b = withChat(JobRequest.newBuilder(), d, topicLane).setJobId("").setTenant(tenant)
                    .setMessageExtrasJson(read.messageExtrasJson());
            bodyDeadline = d.deadlineAtMs();
            givenJobId = null;
        } else if (contentType == null || ContractHeaders.AVRO.equals(contentType)) {
            JobRequest r = decodeAvro(value);
            if (!r.getTenant().isEmpty() && !r.getTenant().equals(tenant)) {
                throw RequestError.unauthenticated("tenant_mismatch", "the record's tenant field '"
                        + ChatRequestRules.abbreviate(r.getTenant()) + "' is not the authenticated tenant '" + tenant + "'").rejected();
            }
            b = withChat(JobRequest.newBuilder(r), chatRequest(r, topicLane), topicLane).setTenant(tenant);
            bodyDeadline = r.getDeadlineAtMs();
            givenJobId = r.getJobId().isEmpty() ? null : r.getJobId();
        } else {
            throw RequestError.undecodable("unsupported_content_type", "content-type '" + ChatRequestRules.abbreviate(contentType)
                    + "' is not supported; use " + ContractHeaders.JSON + " or " + ContractHeaders.AVRO + " (or no content-type for Avro)").rejected();
        }

        String deadlineHeader = header(record, ContractHeaders.DEADLINE);
        Long deadline = bodyDeadline;
        if (deadlineHeader != null) {
            if (bodyDeadline != null) {
                throw ChatRequestRules.invalid("invalid_deadline", "give either the " + ContractHeaders.DEADLINE + " header or a deadline in the body, not both",
                        "deadline");
            }
            deadline = RequestRules.deadlineHeader(deadlineHeader, producedAt);
        }
        ChatRequestRules.deadline(deadline, producedAt, "the deadline is before the record was produced");

        String webhook = b.getWebhookUrl();
        if (webhook != null) {
            String problem = webhookTargets.problem(webhook);
            if (problem != null) {
                throw ChatRequestRules.invalid("invalid_webhook", problem, "webhook");
            }
        }
        String jobIdHeader = header(record, ContractHeaders.JOB_ID);
        String givenId = jobIdHeader != null ? jobIdHeader : givenJobId;
        String correlationId = header(record, ContractHeaders.CORRELATION_ID);
        if (correlationId == null) {
            correlationId = b.getCorrelationId();
        }
        if (correlationId == null && givenId != null) {
            correlationId = givenId; // the job id is the tenant's scoped one: the result carries the producer's id here
        }
        RequestRules.correlationId(correlationId);
        String replyTopic = header(record, ContractHeaders.REPLY_TOPIC);
        if (replyTopic == null) {
            replyTopic = b.getReplyTopic();
        }
        RequestRules.replyTopic(replyTopic);
        RequestRules.replyTopicAllowed(replyTopic, tenant, replyTopicPrefixes.get(tenant));
        if (replyTopic != null && !replyTopic.equals(TopicCatalogue.RESULTS) && !replyTopics.exists(replyTopic)) {
            throw ChatRequestRules.invalid("reply_topic_not_found", "the reply topic '" + replyTopic + "' does not exist; create it before"
                    + " producing requests that name it", ContractHeaders.REPLY_TOPIC);
        }
        String jobId;
        if (givenId != null) {
            RequestRules.jobId(givenId);
            jobId = scopedJobId(tenant, givenId);
        } else {
            jobId = derivedJobId(record);
        }

        JobRequest request = b.setJobId(jobId).setDeadlineAtMs(deadline).setCorrelationId(correlationId).setReplyTopic(replyTopic)
                .setSubmittedAtMs(producedAt).setSource("kafka").setRequestHash(sha256(value)).setAttempt(0)
                .setBatchId(null) // only inferq's batch API attaches jobs to a batch
                .setResultContentType(RejectionReply.wantsJson(record) ? io.inferq.job.ResultRecords.JSON : null)
                .build();
        return RequestDecoding.Result.accepted(request, JobSnapshots.fromRequest(request, JobStatus.QUEUED, producedAt));
    }

    /**
     * An external Avro request as the same {@link ChatRequest} a JSON one becomes: the rules that need the served model
     * here, in the order the JSON reader applies them; the rest in {@link ChatRequest}'s constructor.
     */
    private ChatRequest chatRequest(JobRequest r, JobLane topicLane) {
        ServedModelLimits served = ChatRequestRules.model(r.getModel(), models);
        ChatRequestRules.messageCount(r.getMessages().size());
        List<ChatRequest.Message> messages = new ArrayList<>(r.getMessages().size());
        long chars = 0;
        for (int i = 0; i < r.getMessages().size(); i++) {
            ChatMessage m = r.getMessages().get(i);
            ChatRequestRules.role(i, m.getRole());
            messages.add(new ChatRequest.Message(m.getRole(), m.getContent()));
            chars += m.getContent().length();
        }
        int promptTokens = ChatRequestRules.estimatePromptTokens(chars, r.getMessages().size());
        int maxTokens = ChatRequestRules.maxTokens((long) r.getMaxTokens(), String.valueOf(r.getMaxTokens()), served);
        ChatRequestRules.context(promptTokens, maxTokens, served);
        java.util.Set<String> events = new java.util.LinkedHashSet<>(r.getWebhookEvents());
        events.add("completed");
        JobLane lane = topicLane == JobLane.BATCH ? JobLane.BATCH : JobLane.fromWire(r.getLane());
        return new ChatRequest(r.getModel(), messages, maxTokens, promptTokens, r.getTemperature(), lane, r.getWebhookUrl(), events,
                r.getMetadata(), r.getDeadlineAtMs(), r.getOptionsJson());
    }

    /**
     * The request's chat fields as the queued Avro request carries them, whether it came as JSON or Avro: events sorted,
     * the lane the request names or else its topic's.
     */
    private static JobRequest.Builder withChat(JobRequest.Builder b, ChatRequest d, JobLane topicLane) {
        List<ChatMessage> messages = new ArrayList<>(d.messages().size());
        d.messages().forEach(m -> messages.add(new ChatMessage(m.role(), m.content())));
        return b.setModel(d.model()).setMessages(messages).setMaxTokens(d.maxTokens())
                .setPromptTokens(d.promptTokens()).setTemperature(d.temperature())
                .setLane((d.lane() != null ? d.lane() : topicLane).toWire()).setWebhookUrl(d.webhookUrl())
                .setWebhookEvents(new ArrayList<>(new java.util.TreeSet<>(d.webhookEvents())))
                .setMetadata(new HashMap<>(d.metadata())).setOptionsJson(d.optionsJson());
    }

    private JobRequest decodeAvro(byte[] value) {
        try {
            return avro.decode(value);
        } catch (AvroSerde.AvroDecodeException e) {
            throw RequestError.undecodable("invalid_avro", e.getMessage()
                    + " (send Avro single-object encoding of JobRequest.avsc, or JSON with content-type: application/json)").rejected();
        }
    }

    /**
     * A job id that is the same every time this record is read: a hash of its topic, partition, offset
     * and timestamp ({@code job_k} + 31 hex digits, as long as the ingress's ids). The timestamp keeps
     * ids apart if a topic is deleted and re-created and offsets start again.
     */
    static String derivedJobId(ConsumerRecord<?, ?> record) {
        String position = record.topic() + "/" + record.partition() + "/" + record.offset() + "/" + record.timestamp();
        return RequestRules.DERIVED_JOB_ID_PREFIX + sha256(position.getBytes(StandardCharsets.UTF_8)).substring(0, 31);
    }

    /**
     * The job id of a producer-chosen id: a hash of the tenant and the id ({@code job_t} + 31 hex digits). Ids are an
     * idempotency key within a tenant — the same id is the same job — and never meet another tenant's: two tenants that
     * pick the same id get two jobs (a global id let the first tenant's job swallow the second's request).
     */
    static String scopedJobId(String tenant, String givenId) {
        String scoped = tenant + "\u0000" + givenId;
        return RequestRules.SCOPED_JOB_ID_PREFIX + sha256(scoped.getBytes(StandardCharsets.UTF_8)).substring(0, 31);
    }

    private static String contentType(ConsumerRecord<String, byte[]> record) {
        String ct = header(record, ContractHeaders.CONTENT_TYPE);
        if (ct == null) {
            return null;
        }
        int semi = ct.indexOf(';');
        return (semi < 0 ? ct : ct.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    }

    /** The last value of a header, case-insensitively (HTTP habits carry over: {@code Content-Type}). */
    static String header(ConsumerRecord<String, byte[]> record, String name) {
        String found = null;
        for (Header h : record.headers()) {
            if (h.key().equalsIgnoreCase(name) && h.value() != null) {
                found = new String(h.value(), StandardCharsets.UTF_8);
            }
        }
        return found;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
