package io.inferq.server.kafka;

import static io.inferq.server.kafka.KafkaContractClient.header;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.outcome.DeadLetterHeaders;
import io.inferq.dispatcher.runtime.contract.ContractHeaders;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The "must show": 10,000 requests produced straight to {@code inferq.requests} — JSON and Avro
 * mixed, half answered on a reply topic, 1% poison — yield exactly one result per valid request with
 * its correlation id (read_committed), every poison record in the DLQ with its headers, nothing else.
 */
class TenThousandRequestsTest {
    private static final int TOTAL = 10_000;
    private static final String REPLY_TOPIC = "it.tenk.replies";
    private static InferqServer server;

    @BeforeAll
    static void start() {
        server = TestInferq.start(tree -> {
            KafkaContractClient.litePools(tree, 10_000.0, 256, 65_536, Map.of("metax-c500", 2, "mtt-s4000", 1));
            ((com.fasterxml.jackson.databind.node.ObjectNode) tree.get("dispatcher")).put("interactive-max-wait-ms", 20)
                    .put("max-in-flight-batches-per-instance", 4);
        });
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void tenThousandMixedRequestsGiveOneResultEachAndPoisonGoesToTheDlq() throws Exception {
        Set<String> valid = new HashSet<>();
        Map<String, Integer> poisonOffsetsByCorrelation = new HashMap<>();
        Map<String, String> expectedReplyTopic = new HashMap<>();
        KafkaContractClient.createTopic(server, REPLY_TOPIC);
        long t0 = System.nanoTime();
        try (KafkaProducer<String, byte[]> p = KafkaContractClient.producer(server)) {
            for (int i = 0; i < TOTAL; i++) {
                String cid = "c-" + i;
                String reply = i % 2 == 0 ? REPLY_TOPIC : null;
                String[] headers = reply == null ? new String[] {ContractHeaders.CORRELATION_ID, cid}
                        : new String[] {ContractHeaders.CORRELATION_ID, cid, ContractHeaders.REPLY_TOPIC, reply};
                ProducerRecord<String, byte[]> r;
                if (i % 100 == 37) {
                    r = poison(i, cid);
                    poisonOffsetsByCorrelation.put(cid, i);
                } else if (i % 3 == 0) {
                    r = KafkaContractClient.avro(TopicCatalogue.REQUESTS, "session-" + (i % 50),
                            KafkaContractClient.avroRequest("deepseek-v2-lite", "ticket " + i, 2), headers);
                    valid.add(cid);
                } else {
                    r = KafkaContractClient.json(TopicCatalogue.REQUESTS, "session-" + (i % 50),
                            KafkaContractClient.chatJson("deepseek-v2-lite", "ticket " + i, 2), headers);
                    valid.add(cid);
                }
                if (reply != null && valid.contains(cid)) {
                    expectedReplyTopic.put(cid, reply);
                }
                p.send(r);
            }
            p.flush();
        }
        long produced = System.nanoTime();
        assertThat(poisonOffsetsByCorrelation).hasSize(TOTAL / 100);
        assertThat(valid).hasSize(TOTAL - TOTAL / 100);

        List<ConsumerRecord<String, byte[]>> results = KafkaContractClient.readUntil(server, List.of(TopicCatalogue.RESULTS, REPLY_TOPIC),
                "read_committed", all -> all.size() >= valid.size(), Duration.ofMinutes(3), Duration.ofSeconds(3));
        long resultsIn = System.nanoTime();
        List<ConsumerRecord<String, byte[]>> dlq = KafkaContractClient.readUntil(server, List.of(TopicCatalogue.REQUESTS_DLQ),
                "read_committed", all -> all.size() >= poisonOffsetsByCorrelation.size(), Duration.ofSeconds(60), Duration.ofSeconds(1));

        Map<String, Integer> perCorrelation = new HashMap<>();
        Set<String> jobIds = new HashSet<>();
        for (ConsumerRecord<String, byte[]> r : results) {
            String cid = header(r, ContractHeaders.CORRELATION_ID);
            perCorrelation.merge(cid, 1, Integer::sum);
            JobResult res = io.inferq.job.ResultRecords.decode(r.value());
            assertThat(res.getJobId()).isEqualTo(r.key());
            assertThat(jobIds.add(res.getJobId())).as("one result per job id: %s", res.getJobId()).isTrue();
            assertThat(res.getCorrelationId()).isEqualTo(cid);
            assertThat(res.getStatus()).as("job %s (%s)", res.getJobId(), res.getError()).isEqualTo(JobStatusCode.SUCCEEDED);
            assertThat(r.topic()).isEqualTo(expectedReplyTopic.getOrDefault(cid, TopicCatalogue.RESULTS));
        }
        assertThat(perCorrelation.keySet()).isEqualTo(valid);
        assertThat(perCorrelation.values()).allMatch(n -> n == 1);

        assertThat(dlq).hasSize(poisonOffsetsByCorrelation.size());
        Set<String> dlqCorrelations = new HashSet<>();
        for (ConsumerRecord<String, byte[]> d : dlq) {
            dlqCorrelations.add(header(d, ContractHeaders.CORRELATION_ID));
            assertThat(header(d, DeadLetterHeaders.CONNECT_TOPIC)).isEqualTo(TopicCatalogue.REQUESTS);
            long offset = Long.parseLong(header(d, DeadLetterHeaders.CONNECT_OFFSET));
            int partition = Integer.parseInt(header(d, DeadLetterHeaders.CONNECT_PARTITION));
            assertThat(ByteBuffer.wrap(d.headers().lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_OFFSET).value()).getLong()).isEqualTo(offset);
            assertThat(ByteBuffer.wrap(d.headers().lastHeader(DeadLetterHeaders.SPRING_ORIGINAL_PARTITION).value()).getInt()).isEqualTo(partition);
            assertThat(header(d, DeadLetterHeaders.SPRING_ORIGINAL_TOPIC)).isEqualTo(TopicCatalogue.REQUESTS);
            assertThat(header(d, DeadLetterHeaders.CONNECT_EXCEPTION_CLASS)).startsWith("io.inferq.dispatcher.runtime.contract.RequestContractException$");
            assertThat(header(d, DeadLetterHeaders.CONNECT_EXCEPTION_MESSAGE)).isNotBlank();
            assertThat(header(d, DeadLetterHeaders.SPRING_EXCEPTION_FQCN)).isEqualTo(header(d, DeadLetterHeaders.CONNECT_EXCEPTION_CLASS));
            assertThat(header(d, DeadLetterHeaders.ERROR_CODE)).isNotBlank();
            assertThat(d.headers().lastHeader(ContractHeaders.API_KEY)).as("credentials never reach the DLQ").isNull();
        }
        assertThat(dlqCorrelations).isEqualTo(poisonOffsetsByCorrelation.keySet());

        System.out.printf("10k contract test: produced %d records in %d ms; all %d results in after %d ms; %d dead-lettered%n", TOTAL,
                TimeUnit.NANOSECONDS.toMillis(produced - t0), valid.size(), TimeUnit.NANOSECONDS.toMillis(resultsIn - t0), dlq.size());
    }

    /** Ten kinds of bad record, in turn. */
    private static ProducerRecord<String, byte[]> poison(int i, String cid) {
        String t = TopicCatalogue.REQUESTS;
        String[] h = {ContractHeaders.CORRELATION_ID, cid};
        return switch ((i / 100) % 10) {
            case 0 -> KafkaContractClient.json(t, "p", "{not json", h);
            case 1 -> KafkaContractClient.json(t, "p", KafkaContractClient.chatJson("gpt-4o", "x", 2), h);
            case 2 -> KafkaContractClient.json(t, "p", KafkaContractClient.chatJson("deepseek-v2-lite", "x", 0), h);
            case 3 -> KafkaContractClient.json(t, "p", "{\"model\":\"deepseek-v2-lite\",\"messages\":[]}", h);
            case 4 -> KafkaContractClient.json(t, "p", KafkaContractClient.chatJson("deepseek-v2-lite", "x", 2),
                    ContractHeaders.CORRELATION_ID, cid, ContractHeaders.TENANT, "intruder", ContractHeaders.API_KEY, "sk-guess");
            case 5 -> {
                ProducerRecord<String, byte[]> r = new ProducerRecord<>(t, "p", new byte[] {(byte) 0xC3, 0x01, 9, 9, 9});
                r.headers().add(ContractHeaders.CORRELATION_ID, cid.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                yield r;
            }
            case 6 -> KafkaContractClient.avro(t, "p", KafkaContractClient.avroRequest("deepseek-v2-lite", "x", 1_000_000), h);
            case 7 -> KafkaContractClient.json(t, "p", KafkaContractClient.chatJson("deepseek-v2-lite", "x", 2),
                    ContractHeaders.CORRELATION_ID, cid, ContractHeaders.REPLY_TOPIC, TopicCatalogue.REQUESTS);
            case 8 -> KafkaContractClient.json(t, "p", "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                    + "\"temperature\":9}", h);
            default -> KafkaContractClient.json(t, "p", KafkaContractClient.chatJson("deepseek-v2-lite", "x", 2),
                    ContractHeaders.CORRELATION_ID, cid, "inferq-origin", "ingress");
        };
    }
}
