package io.inferq.examples.tickets;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.dispatcher.runtime.contract.KafkaRequestContract;
import io.inferq.dispatcher.runtime.contract.ServedModelLimits;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TicketClassifierTopologyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final TicketClassifierTopology.Settings settings = TicketClassifierTopology.Settings.defaults();
    private TopologyTestDriver driver;
    private TestInputTopic<String, String> tickets;
    private TestOutputTopic<String, byte[]> requests;
    private TestInputTopic<String, byte[]> replies;
    private TestOutputTopic<String, String> enriched;

    @BeforeEach
    void setUp() {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "ticket-classifier-test");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        driver = new TopologyTestDriver(TicketClassifierTopology.build(settings), p);
        tickets = driver.createInputTopic(settings.tickets(), new StringSerializer(), new StringSerializer());
        requests = driver.createOutputTopic(settings.requests(), new StringDeserializer(), new ByteArrayDeserializer());
        replies = driver.createInputTopic(settings.replies(), new StringSerializer(), new ByteArraySerializer());
        enriched = driver.createOutputTopic(settings.enriched(), new StringDeserializer(), new StringDeserializer());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    @Test
    void eachTicketBecomesAnInferqRequestThatTheContractAccepts() throws Exception {
        tickets.pipeInput("customer-9", "{\"id\":\"T-1\",\"subject\":\"Charged twice\",\"body\":\"My card was billed two times\"}");
        TestRecord<String, byte[]> req = requests.readRecord();
        assertThat(req.key()).isEqualTo("T-1");
        assertThat(header(req, "content-type")).isEqualTo("application/json");
        assertThat(header(req, "inferq-correlation-id")).isEqualTo("T-1");
        assertThat(header(req, "inferq-reply-topic")).isEqualTo(settings.replies());
        JsonNode body = JSON.readTree(req.value());
        assertThat(body.get("model").asText()).isEqualTo("deepseek-v2-lite");
        assertThat(body.get("messages").get(1).get("content").asText()).contains("Charged twice");

        // the same bytes and headers pass inferq's own contract decoder (open mode)
        RecordHeaders h = new RecordHeaders(req.headers().toArray());
        var decoded = KafkaRequestContract.forTenants(List.of(new ServedModelLimits("deepseek-v2-lite", 32_768, 16_384)), Map.of(),
                Clock.systemUTC()).apply(new ConsumerRecord<>("inferq.requests", 0, 0, System.currentTimeMillis(), TimestampType.CREATE_TIME,
                -1, req.value().length, req.key(), req.value(), h, Optional.empty()));
        assertThat(decoded.errorMessage()).isNull();
        assertThat(decoded.request().getCorrelationId()).isEqualTo("T-1");
        assertThat(decoded.request().getReplyTopic()).isEqualTo(settings.replies());
    }

    @Test
    void aResultIsJoinedBackToItsTicketByCorrelationId() throws Exception {
        tickets.pipeInput("customer-9", "{\"id\":\"T-2\",\"subject\":\"Refund\",\"body\":\"invoice wrong\",\"customer\":\"c-9\"}");
        tickets.pipeInput("customer-3", "{\"id\":\"T-3\",\"subject\":\"Login\",\"body\":\"cannot sign in\"}");
        requests.readRecordsToList();

        replies.pipeInput(new TestRecord<>("job_k1", result("job_k1", "T-3", "Account"), new RecordHeaders()
                .add("inferq-correlation-id", "T-3".getBytes(StandardCharsets.UTF_8))));
        replies.pipeInput(new TestRecord<>("job_k2", result("job_k2", "T-2", " billing."), new RecordHeaders()
                .add("inferq-correlation-id", "T-2".getBytes(StandardCharsets.UTF_8))));

        var out = enriched.readKeyValuesToMap();
        assertThat(out).containsOnlyKeys("T-2", "T-3");
        JsonNode t2 = JSON.readTree(out.get("T-2"));
        assertThat(t2.get("customer").asText()).isEqualTo("c-9");
        assertThat(t2.get("classification").get("category").asText()).isEqualTo("billing");
        assertThat(t2.get("classification").get("job_id").asText()).isEqualTo("job_k2");
        assertThat(JSON.readTree(out.get("T-3")).get("classification").get("category").asText()).isEqualTo("account");
    }

    @Test
    void notATicketIsSkippedAndAnUnrelatedReplyJoinsNothing() {
        tickets.pipeInput("x", "not json");
        tickets.pipeInput("x", "{\"subject\":\"no id\"}");
        assertThat(requests.isEmpty()).isTrue();
        replies.pipeInput(new TestRecord<>("job_k9", result("job_k9", "T-404", "billing"), new RecordHeaders()
                .add("inferq-correlation-id", "T-404".getBytes(StandardCharsets.UTF_8))));
        assertThat(enriched.isEmpty()).isTrue();
    }

    @Test
    void categoriesAreTheFirstOneTheAnswerNames() {
        assertThat(TicketClassifierTopology.category("Technical, maybe billing")).isEqualTo("technical");
        assertThat(TicketClassifierTopology.category("[simulated deepseek-v2-lite output]")).isEqualTo("other");
    }

    private static byte[] result(String jobId, String correlationId, String output) {
        return new AvroSerde<>(JobResult.class).encode(JobResult.newBuilder().setJobId(jobId).setTenant("default")
                .setModel("deepseek-v2-lite").setStatus(JobStatusCode.SUCCEEDED).setOutput(output).setCorrelationId(correlationId).build());
    }

    private static String header(TestRecord<?, ?> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
