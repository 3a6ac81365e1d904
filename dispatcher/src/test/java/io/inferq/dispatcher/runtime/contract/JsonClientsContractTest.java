package io.inferq.dispatcher.runtime.contract;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.ResultRecords;
import io.inferq.dispatcher.runtime.RequestDecoding;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The Kafka contract as JSON producers use it: tools and tool conversations carried, JSON results, no content-type. */
class JsonClientsContractTest {

    @Test
    void toolConversationAndParametersAreCarriedToTheEngine() {
        String body = "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
                + "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                + "\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\","
                + "\"content\":\"sunny\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"w\"}}],\"seed\":5,\"top_p\":0.5}";
        RequestDecoding.Result r = ContractRecords.open().apply(ContractRecords.json(body));
        assertThat(r.errorCode()).as(r.errorMessage()).isNull();
        assertThat(r.request().getOptionsJson()).contains("\"tools\"", "\"seed\":5", "\"top_p\":0.5");
        assertThat(r.request().getMessageExtrasJson()).startsWith("[null,{\"tool_calls\":[").contains("\"tool_call_id\":\"call_1\"");
        assertThat(r.request().getMessages().get(1).getContent()).isEmpty();
        assertThat(r.request().getResultContentType()).isEqualTo(ResultRecords.JSON);
    }

    @Test
    void jsonWithoutContentTypeIsRecognisedAndAvroStaysAvro() {
        byte[] value = ContractRecords.chat("").getBytes(StandardCharsets.UTF_8);
        RequestDecoding.Result r = ContractRecords.open().apply(ContractRecords.record("inferq.requests", 7, value));
        assertThat(r.errorCode()).as(r.errorMessage()).isNull();
        assertThat(r.request().getResultContentType()).isEqualTo(ResultRecords.JSON);
        RequestDecoding.Result avroAnswer = ContractRecords.open().apply(ContractRecords.json(ContractRecords.chat(""),
                RejectionReply.RESULT_CONTENT_TYPE, "avro/binary"));
        assertThat(avroAnswer.request().getResultContentType()).isNull();
    }

    @Test
    void aRefusalIsAnsweredOnTheReplyTopicWhenItCanBe() {
        var record = ContractRecords.json("{\"model\":\"gpt-9\",\"messages\":[]}", ContractHeaders.REPLY_TOPIC, "my-replies",
                ContractHeaders.CORRELATION_ID, "c-1");
        RequestDecoding.Result why = ContractRecords.open().apply(record);
        assertThat(why.request()).isNull();
        var reply = RejectionReply.of(record, why).orElseThrow();
        assertThat(reply.topic()).isEqualTo("my-replies");
        String json = new String(reply.value(), StandardCharsets.UTF_8);
        assertThat(json).contains("\"status\":\"failed\"", "\"code\":\"" + why.errorCode() + "\"", "\"correlation_id\":\"c-1\"");
        var noCorrelation = ContractRecords.json("{\"model\":\"gpt-9\"}", ContractHeaders.REPLY_TOPIC, "my-replies");
        assertThat(RejectionReply.of(noCorrelation, ContractRecords.open().apply(noCorrelation))).isEmpty();
        var toRequests = ContractRecords.json("{\"model\":\"gpt-9\"}", ContractHeaders.REPLY_TOPIC, "inferq.requests",
                ContractHeaders.CORRELATION_ID, "c-2");
        assertThat(RejectionReply.of(toRequests, ContractRecords.open().apply(toRequests))).isEmpty();
    }
}
