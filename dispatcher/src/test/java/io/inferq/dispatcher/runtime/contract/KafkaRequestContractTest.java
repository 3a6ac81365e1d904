package io.inferq.dispatcher.runtime.contract;

import static io.inferq.dispatcher.runtime.contract.ContractRecords.PRODUCED_AT;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.chat;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.json;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.record;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.avro.Lane;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.dispatcher.runtime.RequestDecoding;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class KafkaRequestContractTest {
    private final AvroSerde<JobRequest> serde = new AvroSerde<>(JobRequest.class);

    @Test
    void aJsonRequestBecomesAKafkaJobWithItsQueuedEvent() {
        var r = ContractRecords.open().apply(json(chat("\"max_tokens\":8,\"temperature\":0.2,\"metadata\":{\"ticket\":\"T-7\"}"),
                ContractHeaders.CORRELATION_ID, "T-7", ContractHeaders.REPLY_TOPIC, "tickets.classified"));
        assertThat(r.errorMessage()).isNull();
        JobRequest req = r.request();
        assertThat(req.getTenant()).isEqualTo("default");
        assertThat(req.getSource()).isEqualTo("kafka");
        assertThat(req.getJobId()).startsWith("job_k").hasSize(36);
        assertThat(req.getMaxTokens()).isEqualTo(8);
        assertThat(req.getTemperature()).isEqualTo(0.2);
        assertThat(req.getCorrelationId()).isEqualTo("T-7");
        assertThat(req.getReplyTopic()).isEqualTo("tickets.classified");
        assertThat(req.getMetadata()).containsEntry("ticket", "T-7");
        assertThat(req.getSubmittedAtMs()).isEqualTo(PRODUCED_AT);
        assertThat(req.getLane()).isEqualTo(Lane.INTERACTIVE);
        assertThat(req.getPromptTokens()).isPositive();
        assertThat(r.acceptedEvent().getStatus()).isEqualTo(JobStatusCode.QUEUED);
        assertThat(r.acceptedEvent().getCorrelationId()).isEqualTo("T-7");
    }

    @Test
    void theDerivedJobIdIsTheSameOnRedeliveryAndDiffersByPosition() {
        String body = chat("");
        var first = ContractRecords.open().apply(json(body)).request().getJobId();
        var again = ContractRecords.open().apply(json(body)).request().getJobId();
        var elsewhere = ContractRecords.open().apply(record("inferq.requests", 43, body.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                ContractHeaders.CONTENT_TYPE, "application/json; charset=utf-8")).request().getJobId();
        assertThat(again).isEqualTo(first);
        assertThat(elsewhere).isNotEqualTo(first);
    }

    @Test
    void priorityOrTheBatchTopicChoosesTheLane() {
        assertThat(ContractRecords.open().apply(json(chat("\"priority\":\"batch\""))).request().getLane()).isEqualTo(Lane.BATCH);
        var onBatchTopic = record("inferq.requests.batch", 1, chat("").getBytes(java.nio.charset.StandardCharsets.UTF_8),
                ContractHeaders.CONTENT_TYPE, ContractHeaders.JSON);
        assertThat(ContractRecords.open().apply(onBatchTopic).request().getLane()).isEqualTo(Lane.BATCH);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}                          | missing_model",
        "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}        | model_not_found",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[]}                                 | invalid_messages",
        "{\"model\":\"deepseek-v2-lite\"}                                                 | invalid_messages",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]} | invalid_role",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":7}]}  | invalid_content",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}       | invalid_max_tokens",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}     | invalid_max_tokens",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":99999}   | invalid_max_tokens",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}      | invalid_temperature",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"priority\":\"high\"}  | invalid_priority",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true}        | unsupported_parameter",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}               | unsupported_parameter",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{\"a\":1}} | invalid_metadata",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"webhook\":\"ftp://x\"} | invalid_webhook",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"deadline\":\"soon\"}  | invalid_deadline",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"deadline\":\"2025-06-01T11:00:00Z\"} | invalid_deadline",
        "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"deadline\":\"2025-07-01T11:00:00Z\"} | invalid_deadline",
        "not json at all                                                                  | invalid_json",
        "[1,2,3]                                                                          | invalid_json",
    })
    void theHttpApisRulesAndCodesApply(String body, String code) {
        var r = ContractRecords.open().apply(json(body.trim()));
        assertThat(r.request()).isNull();
        assertThat(r.errorCode()).isEqualTo(code);
        assertThat(r.errorClass()).startsWith("io.inferq.dispatcher.runtime.contract.RequestContractException$");
        assertThat(r.errorMessage()).isNotBlank();
    }

    @Test
    void contextLengthIsCheckedAgainstTheModel() {
        String huge = "x".repeat(4 * 32_768);
        var r = ContractRecords.open().apply(json("{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"" + huge
                + "\"}],\"max_tokens\":16}"));
        assertThat(r.errorCode()).isEqualTo("context_length_exceeded");
    }

    @Test
    void theDeadlineHeaderIsATimestampOrADurationFromTheRecordTimestamp() {
        var d = ContractRecords.open().apply(json(chat(""), ContractHeaders.DEADLINE, "90s")).request();
        assertThat(d.getDeadlineAtMs()).isEqualTo(PRODUCED_AT + 90_000);
        var t = ContractRecords.open().apply(json(chat(""), ContractHeaders.DEADLINE, "2025-06-01T13:00:00Z")).request();
        assertThat(t.getDeadlineAtMs()).isEqualTo(Instant.parse("2025-06-01T13:00:00Z").toEpochMilli());
        var both = ContractRecords.open().apply(json(chat("\"deadline\":\"2025-06-01T13:00:00Z\""), ContractHeaders.DEADLINE, "5m"));
        assertThat(both.errorCode()).isEqualTo("invalid_deadline");
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.DEADLINE, "-5m")).errorCode()).isEqualTo("invalid_deadline");
    }

    @Test
    void aRecordThatWaitedPastItsDeadlineIsStillAJobThatWillExpireNotAPoisonRecord() {
        // produced at 12:00 with a 1-minute deadline, read at 13:00 (the fixed clock)
        var r = ContractRecords.open().apply(json(chat(""), ContractHeaders.DEADLINE, "1m"));
        assertThat(r.request()).isNotNull();
        assertThat(r.request().getDeadlineAtMs()).isLessThan(ContractRecords.CLOCK.millis());
    }

    @Test
    void replyTopicsMustBeLegalAndNotInferqsOwn() {
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.REPLY_TOPIC, "inferq.requests")).errorCode())
                .isEqualTo("invalid_reply_topic");
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.REPLY_TOPIC, "bad topic!")).errorCode())
                .isEqualTo("invalid_reply_topic");
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.REPLY_TOPIC, "inferq.results")).request()).isNotNull();
    }

    @Test
    void tenantsAuthenticateWithHeadersWhenConfigured() {
        KafkaRequestContract c = ContractRecords.withTenants();
        assertThat(c.apply(json(chat(""), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-2")).request().getTenant())
                .isEqualTo("acme");
        assertThat(c.apply(json(chat(""))).errorCode()).isEqualTo("invalid_api_key");
        assertThat(c.apply(json(chat(""), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-globex")).errorCode())
                .isEqualTo("invalid_api_key");
        var unknown = c.apply(json(chat(""), ContractHeaders.TENANT, "initech", ContractHeaders.API_KEY, "sk-acme-1"));
        assertThat(unknown.errorClass()).isEqualTo(io.inferq.job.request.RequestError.Kind.UNAUTHENTICATED.deadLetterClass());
        assertThat(unknown.errorMessage()).doesNotContain("sk-acme-1");
    }

    @Test
    void openModeIsTenantDefaultAndRefusesOtherTenants() {
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.TENANT, "default")).request().getTenant()).isEqualTo("default");
        assertThat(ContractRecords.open().apply(json(chat(""), ContractHeaders.TENANT, "acme")).errorCode()).isEqualTo("invalid_api_key");
    }

    @Test
    void anExternalAvroRequestIsValidatedAndMayLeaveTheJobIdEmpty() {
        JobRequest external = JobRequest.newBuilder().setJobId("").setTenant("").setModel("deepseek-v2-lite")
                .setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(4).setSource("http").setBatchId("batch_x")
                .setCorrelationId("c-1").build();
        var r = ContractRecords.open().apply(record("inferq.requests", 7, serde.encode(external)));
        assertThat(r.request().getJobId()).startsWith("job_k");
        assertThat(r.request().getSource()).isEqualTo("kafka");
        assertThat(r.request().getTenant()).isEqualTo("default");
        assertThat(r.request().getBatchId()).isNull();
        assertThat(r.request().getCorrelationId()).isEqualTo("c-1");
        assertThat(r.acceptedEvent()).isNotNull();

        var named = ContractRecords.open().apply(record("inferq.requests", 8, serde.encode(JobRequest.newBuilder(external).setJobId("order-991").build())));
        assertThat(named.request().getJobId()).isEqualTo(KafkaRequestContract.scopedJobId("default", "order-991"));
        assertThat(named.request().getCorrelationId()).isEqualTo("c-1");
        var stolen = ContractRecords.open().apply(record("inferq.requests", 9, serde.encode(JobRequest.newBuilder(external).setJobId("job_kabc").build())));
        assertThat(stolen.errorCode()).isEqualTo("invalid_job_id");
        var tooLong = ContractRecords.open().apply(record("inferq.requests", 9, serde.encode(JobRequest.newBuilder(external).setMaxTokens(99_999).build())));
        assertThat(tooLong.errorCode()).isEqualTo("invalid_max_tokens");
    }

    @Test
    void anAvroRecordCannotActForAnotherTenant() {
        JobRequest forged = JobRequest.newBuilder().setJobId("").setTenant("globex").setModel("deepseek-v2-lite")
                .setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(4).build();
        var r = ContractRecords.withTenants().apply(record("inferq.requests", 1, serde.encode(forged),
                ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1"));
        assertThat(r.errorCode()).isEqualTo("tenant_mismatch");
    }

    @Test
    void inferqsOwnSignedRecordsPassAsTheyAreAndForgedOnesAreRefused() {
        JobRequest own = JobRequest.newBuilder().setJobId("job_0123456789abcdef0123456789abcdef").setTenant("globex")
                .setModel("deepseek-v2-lite").setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(4).setSource("http").build();
        byte[] bytes = serde.encode(own);
        TrustedOrigin origin = TrustedOrigin.forTenants(Map.of("acme", List.of("sk-acme-1", "sk-acme-2"), "globex", List.of("sk-globex")));
        ConsumerRecord<String, byte[]> signed = record("inferq.requests", 1, bytes, TrustedOrigin.ORIGIN_HEADER, TrustedOrigin.INGRESS,
                TrustedOrigin.SIGNATURE_HEADER, origin.sign(bytes));
        RequestDecoding.Result ok = ContractRecords.withTenants().apply(signed);
        assertThat(ok.request()).isEqualTo(own);
        assertThat(ok.acceptedEvent()).isNull(); // the ingress wrote its queued event already

        ConsumerRecord<String, byte[]> forged = record("inferq.requests", 2, bytes, TrustedOrigin.ORIGIN_HEADER, TrustedOrigin.INGRESS,
                TrustedOrigin.SIGNATURE_HEADER, TrustedOrigin.forTenants(Map.of()).sign(bytes));
        assertThat(ContractRecords.withTenants().apply(forged).errorCode()).isEqualTo("invalid_origin");
        ConsumerRecord<String, byte[]> unsigned = record("inferq.requests", 3, bytes, TrustedOrigin.ORIGIN_HEADER, TrustedOrigin.INGRESS);
        assertThat(ContractRecords.withTenants().apply(unsigned).errorCode()).isEqualTo("invalid_origin");
    }

    @Test
    void undecodableRecordsNameTheirProblem() {
        assertThat(ContractRecords.open().apply(record("inferq.requests", 1, new byte[] {1, 2, 3})).errorCode()).isEqualTo("invalid_avro");
        assertThat(ContractRecords.open().apply(record("inferq.requests", 1, null)).errorCode()).isEqualTo("empty_record");
        assertThat(ContractRecords.open().apply(record("inferq.requests", 1, new byte[] {1}, ContractHeaders.CONTENT_TYPE, "text/csv")).errorCode())
                .isEqualTo("unsupported_content_type");
    }

    @Test
    void aReplyTopicThatDoesNotExistIsRefusedAtIntake() {
        KafkaRequestContract c = KafkaRequestContract.forTenants(ContractRecords.MODELS, Map.of(), t -> t.equals("exists"), ContractRecords.CLOCK);
        assertThat(c.apply(json(chat(""), ContractHeaders.REPLY_TOPIC, "missing")).errorCode()).isEqualTo("reply_topic_not_found");
        assertThat(c.apply(json(chat(""), ContractHeaders.REPLY_TOPIC, "exists")).request()).isNotNull();
        assertThat(c.apply(json(chat(""))).request()).isNotNull();
    }
}
