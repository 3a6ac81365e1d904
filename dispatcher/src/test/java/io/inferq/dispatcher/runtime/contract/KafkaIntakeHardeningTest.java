package io.inferq.dispatcher.runtime.contract;

import static io.inferq.dispatcher.runtime.contract.ContractRecords.chat;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.json;
import static io.inferq.dispatcher.runtime.contract.ContractRecords.record;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.dispatcher.runtime.RequestDecoding;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 13 on the Kafka intake: internal reply topics, job ids of two tenants, integer fields past 64 bits.
 * Unit level: the contract alone, no broker.
 */
class KafkaIntakeHardeningTest {
    private static final AvroSerde<JobRequest> AVRO = new AvroSerde<>(JobRequest.class);

    @ParameterizedTest
    @ValueSource(strings = {"__consumer_offsets", "__transaction_state", "__share_group_state", "__anything"})
    void internalTopicsAreRefusedAsReplyTopics(String topic) {
        var r = ContractRecords.open().apply(json(chat("\"max_tokens\":4"), ContractHeaders.REPLY_TOPIC, topic));
        assertThat(r.request()).isNull();
        assertThat(r.errorCode()).isEqualTo("invalid_reply_topic");
        assertThat(r.errorMessage()).contains("internal");
    }

    @Test
    void theSameProducerJobIdOfTwoTenantsNamesTwoJobs() {
        KafkaRequestContract c = ContractRecords.withTenants();
        var acme = c.apply(record("inferq.requests", 1, chatBytes(), ContractHeaders.CONTENT_TYPE, ContractHeaders.JSON,
                ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1", ContractHeaders.JOB_ID, "order-1"));
        var globex = c.apply(record("inferq.requests", 2, chatBytes(), ContractHeaders.CONTENT_TYPE, ContractHeaders.JSON,
                ContractHeaders.TENANT, "globex", ContractHeaders.API_KEY, "sk-globex", ContractHeaders.JOB_ID, "order-1"));
        var acmeAgain = c.apply(record("inferq.requests", 3, chatBytes(), ContractHeaders.CONTENT_TYPE, ContractHeaders.JSON,
                ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-2", ContractHeaders.JOB_ID, "order-1"));
        assertThat(acme.request().getJobId()).isNotEqualTo(globex.request().getJobId());
        assertThat(acmeAgain.request().getJobId()).as("within a tenant the id stays an idempotency key").isEqualTo(acme.request().getJobId());
        assertThat(acme.request().getJobId()).startsWith("job_t").hasSize(36);
    }

    @Test
    void anAvroJobIdIsScopedToItsTenantToo() {
        JobRequest req = JobRequest.newBuilder().setJobId("order-1").setTenant("").setModel("deepseek-v2-lite")
                .setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(4).build();
        KafkaRequestContract c = ContractRecords.withTenants();
        var acme = c.apply(record("inferq.requests", 1, AVRO.encode(req), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1"));
        var globex = c.apply(record("inferq.requests", 2, AVRO.encode(req), ContractHeaders.TENANT, "globex", ContractHeaders.API_KEY, "sk-globex"));
        assertThat(acme.request().getJobId()).isNotEqualTo(globex.request().getJobId());
        // without a correlation id of its own, the result carries the producer's id so the producer can match it
        assertThat(acme.request().getCorrelationId()).isEqualTo("order-1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"18446744073709551620", "18446744073709551616", "9223372036854775808", "-18446744073709551612",
            "1.8446744073709551620e19", "4.5", "1e400"})
    void integerFieldsAreRangeCheckedOnTheirExactValue(String maxTokens) {
        RequestDecoding.Result r = ContractRecords.open().apply(json(chat("\"max_tokens\":" + maxTokens)));
        assertThat(r.request()).as("max_tokens %s", maxTokens).isNull();
        assertThat(r.errorCode()).isEqualTo("invalid_max_tokens");
        RequestDecoding.Result completion = ContractRecords.open().apply(json(chat("\"max_completion_tokens\":" + maxTokens)));
        assertThat(completion.errorCode()).isEqualTo("invalid_max_tokens");
    }

    @Test
    void anIntegralFloatStillCounts() {
        assertThat(ContractRecords.open().apply(json(chat("\"max_tokens\":16.0"))).request().getMaxTokens()).isEqualTo(16);
    }

    @Test
    void aTenantNamesOnlyReplyTopicsUnderItsPrefix() {
        KafkaRequestContract c = ContractRecords.withTenants().withReplyTopicPrefixes(java.util.Map.of("acme", "acme."));
        var foreign = c.apply(json(chat("\"max_tokens\":4"), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1",
                ContractHeaders.REPLY_TOPIC, "globex.replies"));
        assertThat(foreign.request()).isNull();
        assertThat(foreign.errorCode()).isEqualTo("reply_topic_not_allowed");
        assertThat(foreign.errorMessage()).contains("acme.").contains("globex.replies");
        var own = c.apply(json(chat("\"max_tokens\":4"), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1",
                ContractHeaders.REPLY_TOPIC, "acme.replies"));
        assertThat(own.errorMessage()).isNull();
        var results = c.apply(json(chat("\"max_tokens\":4"), ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme-1",
                ContractHeaders.REPLY_TOPIC, "inferq.results"));
        assertThat(results.errorMessage()).as("the default results topic is always allowed").isNull();
        var unlimited = c.apply(json(chat("\"max_tokens\":4"), ContractHeaders.TENANT, "globex", ContractHeaders.API_KEY, "sk-globex",
                ContractHeaders.REPLY_TOPIC, "anything.at.all"));
        assertThat(unlimited.errorMessage()).as("a tenant without a prefix").isNull();
    }

    @Test
    void theWebhookTargetCheckRefusesAtIntakeInJsonAndAvro() {
        KafkaRequestContract c = ContractRecords.open().withWebhookTargets(url -> url.contains("127.0.0.1") ? "loopback" : null);
        var json = c.apply(json(chat("\"max_tokens\":4,\"webhook\":\"http://127.0.0.1:8080/hook\"")));
        assertThat(json.errorCode()).isEqualTo("invalid_webhook");
        assertThat(json.errorMessage()).isEqualTo("loopback");
        JobRequest req = JobRequest.newBuilder().setJobId("").setTenant("").setModel("deepseek-v2-lite")
                .setMessages(List.of(new ChatMessage("user", "hi"))).setMaxTokens(4).setWebhookUrl("http://127.0.0.1/h").build();
        assertThat(c.apply(record("inferq.requests", 5, AVRO.encode(req))).errorCode()).isEqualTo("invalid_webhook");
        var fine = c.apply(json(chat("\"max_tokens\":4,\"webhook\":\"https://hooks.example.com/h\"")));
        assertThat(fine.errorMessage()).isNull();
    }

    @Test
    void producersCannotPickAScopedIdDirectly() {
        var r = ContractRecords.open().apply(json(chat("\"max_tokens\":4"), ContractHeaders.JOB_ID, "job_tabc"));
        assertThat(r.errorCode()).isEqualTo("invalid_job_id");
    }

    private static byte[] chatBytes() {
        return chat("\"max_tokens\":4").getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
