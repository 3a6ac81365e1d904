package io.inferq.server.kafka;

import static io.inferq.server.kafka.KafkaContractClient.header;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.job.outcome.DeadLetterHeaders;
import io.inferq.dispatcher.runtime.contract.ContractHeaders;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The hostile-input corpus of the Kafka entry point (issue 13), JSON and Avro: every probe is produced by tenant
 * {@code acme} (limited to reply topics under {@code acme.}) to {@code inferq.requests}, each followed by a well-formed
 * request of tenant {@code globex}. Then, per probe: exactly one dead-letter record with the probe's exact
 * {@code inferq-error-code}, no job (no job event) and no result; and every {@code globex} request completed meanwhile.
 * One server for the whole corpus: the probes are sent together and the topics read once.
 */
class KafkaHostileInputCorpusTest {
    private static final String MODEL = "deepseek-v2-lite";
    private static final String ACME_REPLIES = "acme.replies";
    private static final String GLOBEX_REPLIES = "globex.replies";
    private static final String[] ACME = {ContractHeaders.TENANT, "acme", ContractHeaders.API_KEY, "sk-acme"};
    private static final String[] GLOBEX = {ContractHeaders.TENANT, "globex", ContractHeaders.API_KEY, "sk-globex"};
    private static final AvroSerde<JobEvent> EVENTS = new AvroSerde<>(JobEvent.class);

    /** A hostile record and the error code it must be dead-lettered with. */
    record Probe(String name, String code, ProducerRecord<String, byte[]> record) {
        @Override
        public String toString() {
            return name + " -> " + code;
        }
    }

    private static InferqServer server;
    private static final Map<String, List<ConsumerRecord<String, byte[]>>> dlqByCorrelation = new HashMap<>();
    private static final Map<String, List<ConsumerRecord<String, byte[]>>> resultsByCorrelation = new HashMap<>();
    private static final Set<String> eventCorrelations = new HashSet<>();
    private static final List<String> goodCorrelations = new ArrayList<>();

    static List<Probe> corpus() {
        String t = TopicCatalogue.REQUESTS;
        String ok = KafkaContractClient.chatJson(MODEL, "hello", 4);
        List<Probe> p = new ArrayList<>();
        // reply topics (defect 1)
        p.add(json("json-reply-consumer-offsets", "invalid_reply_topic", ok, ContractHeaders.REPLY_TOPIC, "__consumer_offsets"));
        p.add(json("json-reply-transaction-state", "invalid_reply_topic", ok, ContractHeaders.REPLY_TOPIC, "__transaction_state"));
        p.add(json("json-reply-inferq-requests", "invalid_reply_topic", ok, ContractHeaders.REPLY_TOPIC, "inferq.requests"));
        p.add(json("json-reply-illegal-name", "invalid_reply_topic", ok, ContractHeaders.REPLY_TOPIC, "no/slashes"));
        p.add(json("json-reply-foreign-prefix", "reply_topic_not_allowed", ok, ContractHeaders.REPLY_TOPIC, GLOBEX_REPLIES));
        p.add(json("json-reply-missing", "reply_topic_not_found", ok, ContractHeaders.REPLY_TOPIC, "acme.does-not-exist"));
        // webhooks refused at intake as over HTTP (defect 10)
        p.add(json("json-webhook-loopback", "invalid_webhook", chat("\"webhook\":\"http://127.0.0.1:9/hook\"")));
        p.add(json("json-webhook-localhost", "invalid_webhook", chat("\"webhook\":\"http://localhost:8080/hook\"")));
        p.add(json("json-webhook-private", "invalid_webhook", chat("\"webhook\":\"http://10.1.2.3/hook\"")));
        p.add(json("json-webhook-metadata", "invalid_webhook", chat("\"webhook\":\"http://169.254.169.254/latest/meta-data\"")));
        p.add(json("json-webhook-ipv6-loopback", "invalid_webhook", chat("\"webhook\":\"http://[::1]/hook\"")));
        p.add(json("json-webhook-mapped-private", "invalid_webhook", chat("\"webhook\":\"http://[::ffff:192.168.1.1]/hook\"")));
        p.add(json("json-webhook-ftp", "invalid_webhook", chat("\"webhook\":\"ftp://example.com/hook\"")));
        // integers on their exact value (defect 5, Kafka side)
        p.add(json("json-max-tokens-2^64+4", "invalid_max_tokens", chat("\"max_tokens\":18446744073709551620")));
        p.add(json("json-max-tokens-minus-2^64+4", "invalid_max_tokens", chat("\"max_tokens\":-18446744073709551612")));
        p.add(json("json-max-completion-tokens-2^64+4", "invalid_max_tokens", "{\"model\":\"" + MODEL
                + "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":18446744073709551620}"));
        p.add(json("json-max-tokens-fraction", "invalid_max_tokens", chat("\"max_tokens\":4.5")));
        // job ids
        p.add(json("json-job-id-reserved-scoped", "invalid_job_id", ok, ContractHeaders.JOB_ID, "job_t0123456789abcdef0123456789abcde"));
        p.add(json("json-job-id-reserved-derived", "invalid_job_id", ok, ContractHeaders.JOB_ID, "job_kabc"));
        p.add(json("json-job-id-illegal", "invalid_job_id", ok, ContractHeaders.JOB_ID, "../../etc"));
        // the README's error table
        p.add(json("json-not-json", "invalid_json", "{not json"));
        p.add(json("json-array", "invalid_json", "[1,2]"));
        p.add(json("json-unknown-model", "model_not_found", KafkaContractClient.chatJson("gpt-4o", "x", 4)));
        p.add(json("json-no-messages", "invalid_messages", "{\"model\":\"" + MODEL + "\",\"messages\":[]}"));
        p.add(json("json-bad-role", "invalid_role", "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"root\",\"content\":\"x\"}]}"));
        p.add(json("json-stream", "unsupported_parameter", chat("\"stream\":true")));
        p.add(json("json-temperature", "invalid_temperature", chat("\"temperature\":3")));
        p.add(json("json-deadline-past", "invalid_deadline", chat("\"deadline\":\"2001-01-01T00:00:00Z\"")));
        p.add(new Probe("json-wrong-key", "invalid_api_key", KafkaContractClient.json(t, "k", ok, ContractHeaders.TENANT, "acme",
                ContractHeaders.API_KEY, "sk-guess", ContractHeaders.CORRELATION_ID, cid("json-wrong-key"))));
        p.add(new Probe("json-unknown-tenant", "invalid_api_key", KafkaContractClient.json(t, "k", ok, ContractHeaders.TENANT, "intruder",
                ContractHeaders.API_KEY, "sk-acme", ContractHeaders.CORRELATION_ID, cid("json-unknown-tenant"))));
        p.add(json("json-content-type-xml", "unsupported_content_type", ok, ContractHeaders.CONTENT_TYPE, "application/xml"));
        // Avro
        p.add(avro("avro-reply-consumer-offsets", "invalid_reply_topic", avroRequest().build(), ContractHeaders.REPLY_TOPIC, "__consumer_offsets"));
        p.add(avro("avro-reply-field-transaction-state", "invalid_reply_topic", avroRequest().setReplyTopic("__transaction_state").build()));
        p.add(avro("avro-reply-foreign-prefix", "reply_topic_not_allowed", avroRequest().setReplyTopic(GLOBEX_REPLIES).build()));
        p.add(avro("avro-webhook-private", "invalid_webhook", avroRequest().setWebhookUrl("http://192.168.0.10/hook").build()));
        p.add(avro("avro-webhook-metadata", "invalid_webhook", avroRequest().setWebhookUrl("http://169.254.169.254/").build()));
        p.add(avro("avro-max-tokens", "invalid_max_tokens", avroRequest().setMaxTokens(1_000_000).build()));
        p.add(avro("avro-max-tokens-negative", "invalid_max_tokens", avroRequest().setMaxTokens(-4).build()));
        p.add(avro("avro-tenant-mismatch", "tenant_mismatch", avroRequest().setTenant("globex").build()));
        p.add(avro("avro-job-id-reserved", "invalid_job_id", avroRequest().setJobId("job_tdeadbeef").build()));
        p.add(avro("avro-unknown-model", "model_not_found", avroRequest().setModel("gpt-4o").build()));
        p.add(bytes("avro-garbage", "invalid_avro", new byte[] {(byte) 0xC3, 0x01, 9, 9, 9}));
        p.add(bytes("avro-empty", "empty_record", new byte[0]));
        return p;
    }

    static Stream<Probe> probes() {
        return corpus().stream();
    }

    @BeforeAll
    static void sendTheCorpus() {
        server = TestInferq.start(tree -> {
            KafkaContractClient.litePools(tree, 2_000.0, 64, 16_384, Map.of("mtt-s4000", 1));
            var tenants = tree.putArray("tenants");
            ObjectNode acme = tenants.addObject().put("id", "acme").put("reply-topic-prefix", "acme.");
            acme.putArray("api-keys").add("sk-acme");
            ObjectNode globex = tenants.addObject().put("id", "globex").put("reply-topic-prefix", "globex.");
            globex.putArray("api-keys").add("sk-globex");
        });
        KafkaContractClient.createTopic(server, ACME_REPLIES);
        KafkaContractClient.createTopic(server, GLOBEX_REPLIES);
        List<Probe> corpus = corpus();
        try (KafkaProducer<String, byte[]> p = KafkaContractClient.producer(server)) {
            for (Probe probe : corpus) {
                p.send(probe.record());
                // another tenant's well-formed request, meanwhile
                String cid = "good-after-" + probe.name();
                goodCorrelations.add(cid);
                p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "g", KafkaContractClient.chatJson(MODEL, "hi " + cid, 4),
                        concat(GLOBEX, ContractHeaders.CORRELATION_ID, cid, ContractHeaders.REPLY_TOPIC, GLOBEX_REPLIES)));
            }
            // the id clash of defect 2: the same producer id from two tenants, acme first
            p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "c", KafkaContractClient.chatJson(MODEL, "acme's order", 4),
                    concat(ACME, ContractHeaders.JOB_ID, "order-1", ContractHeaders.CORRELATION_ID, "clash-acme")));
            p.flush();
            p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "c", KafkaContractClient.chatJson(MODEL, "globex's order", 4),
                    concat(GLOBEX, ContractHeaders.JOB_ID, "order-1", ContractHeaders.CORRELATION_ID, "clash-globex")));
            p.send(KafkaContractClient.avro(TopicCatalogue.REQUESTS, "c", avroRequest().setJobId("order-2").build(),
                    concat(ACME, ContractHeaders.CORRELATION_ID, "clash-avro-acme")));
            p.flush();
            p.send(KafkaContractClient.avro(TopicCatalogue.REQUESTS, "c", avroRequest().setTenant("").setJobId("order-2").build(),
                    concat(GLOBEX, ContractHeaders.CORRELATION_ID, "clash-avro-globex")));
        }
        int expectedResults = goodCorrelations.size() + 4;
        for (ConsumerRecord<String, byte[]> r : KafkaContractClient.readUntil(server, List.of(TopicCatalogue.RESULTS, ACME_REPLIES,
                GLOBEX_REPLIES), "read_committed", all -> all.size() >= expectedResults, Duration.ofSeconds(90), Duration.ofSeconds(1))) {
            resultsByCorrelation.computeIfAbsent(header(r, ContractHeaders.CORRELATION_ID), k -> new ArrayList<>()).add(r);
        }
        for (ConsumerRecord<String, byte[]> r : readAtMost(List.of(TopicCatalogue.REQUESTS_DLQ), corpus.size(), Duration.ofSeconds(60))) {
            dlqByCorrelation.computeIfAbsent(header(r, ContractHeaders.CORRELATION_ID), k -> new ArrayList<>()).add(r);
        }
        for (ConsumerRecord<String, byte[]> r : readAtMost(List.of(TopicCatalogue.JOB_EVENTS), expectedResults * 3, Duration.ofSeconds(10))) {
            if (r.value() != null) {
                String cid = EVENTS.decode(r.value()).getCorrelationId();
                if (cid != null) {
                    eventCorrelations.add(cid);
                }
            }
        }
        System.out.printf("Kafka hostile-input corpus: %d probes (%d JSON, %d Avro), %d dead-lettered, %d results%n", corpus.size(),
                corpus.stream().filter(c -> c.name().startsWith("json")).count(), corpus.stream().filter(c -> c.name().startsWith("avro")).count(),
                dlqByCorrelation.values().stream().mapToInt(List::size).sum(), resultsByCorrelation.values().stream().mapToInt(List::size).sum());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("probes")
    void eachProbeIsDeadLetteredWithItsCodeAndNothingIsAccepted(Probe probe) {
        String cid = cid(probe.name());
        List<ConsumerRecord<String, byte[]>> dlq = dlqByCorrelation.getOrDefault(cid, List.of());
        assertThat(dlq).as("dead-letter records of %s", probe.name()).hasSize(1);
        assertThat(header(dlq.get(0), DeadLetterHeaders.ERROR_CODE)).isEqualTo(probe.code());
        assertThat(header(dlq.get(0), DeadLetterHeaders.CONNECT_EXCEPTION_MESSAGE)).isNotBlank();
        assertThat(dlq.get(0).headers().lastHeader(ContractHeaders.API_KEY)).as("credentials never reach the DLQ").isNull();
        assertThat(resultsByCorrelation).as("no result for a refused record").doesNotContainKey(cid);
        assertThat(eventCorrelations).as("no job for a refused record").doesNotContain(cid);
    }

    @Test
    void everyRequestOfAnotherTenantSentMeanwhileCompleted() {
        for (String cid : goodCorrelations) {
            List<ConsumerRecord<String, byte[]>> results = resultsByCorrelation.getOrDefault(cid, List.of());
            assertThat(results).as("results of %s", cid).hasSize(1);
            assertThat(results.get(0).topic()).isEqualTo(GLOBEX_REPLIES);
            assertThat(io.inferq.job.ResultRecords.decode(results.get(0).value()).getStatus()).isEqualTo(JobStatusCode.SUCCEEDED);
        }
    }

    @Test
    void twoTenantsUsingTheSameJobIdGetAJobAndAResultEach() {
        for (String pair : List.of("clash", "clash-avro")) {
            JobResult acme = onlyResult(pair + "-acme");
            JobResult globex = onlyResult(pair + "-globex");
            assertThat(acme.getStatus()).isEqualTo(JobStatusCode.SUCCEEDED);
            assertThat(globex.getStatus()).as("the later tenant's job does not vanish").isEqualTo(JobStatusCode.SUCCEEDED);
            assertThat(acme.getTenant()).isEqualTo("acme");
            assertThat(globex.getTenant()).isEqualTo("globex");
            assertThat(acme.getJobId()).isNotEqualTo(globex.getJobId());
            assertThat(dlqByCorrelation).doesNotContainKeys(pair + "-acme", pair + "-globex");
        }
    }

    /**
     * Records of {@code topics} until {@code enough} were read, or the timeout (then what was read: the per-probe
     * assertions say which record is missing), plus half a second to catch extra ones.
     */
    private static List<ConsumerRecord<String, byte[]>> readAtMost(List<String> topics, int enough, Duration timeout) {
        List<ConsumerRecord<String, byte[]>> all = new ArrayList<>();
        try (var c = KafkaContractClient.reader(server, "read_committed")) {
            c.subscribe(topics);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (all.size() < enough && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(all::add);
            }
            long settle = System.nanoTime() + Duration.ofMillis(500).toNanos();
            while (System.nanoTime() < settle) {
                c.poll(Duration.ofMillis(100)).forEach(all::add);
            }
        }
        return all;
    }

    private static JobResult onlyResult(String cid) {
        List<ConsumerRecord<String, byte[]>> results = resultsByCorrelation.getOrDefault(cid, List.of());
        assertThat(results).as("results of %s", cid).hasSize(1);
        return io.inferq.job.ResultRecords.decode(results.get(0).value());
    }

    private static String cid(String probe) {
        return "probe-" + probe;
    }

    private static String chat(String extra) {
        return "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":4," + extra + "}";
    }

    private static JobRequest.Builder avroRequest() {
        return JobRequest.newBuilder().setJobId("").setTenant("").setModel(MODEL).setMessages(List.of(new ChatMessage("user", "x")))
                .setMaxTokens(4).setSource("kafka");
    }

    private static Probe json(String name, String code, String body, String... headers) {
        // headers given later win (the contract reads the last value), so a probe may override the content type
        return new Probe(name, code, KafkaContractClient.json(TopicCatalogue.REQUESTS, "k", body,
                concat(concat(ACME, ContractHeaders.CORRELATION_ID, cid(name)), headers)));
    }

    private static Probe avro(String name, String code, JobRequest request, String... headers) {
        return new Probe(name, code, KafkaContractClient.avro(TopicCatalogue.REQUESTS, "k", request,
                concat(concat(ACME, ContractHeaders.CORRELATION_ID, cid(name)), headers)));
    }

    private static Probe bytes(String name, String code, byte[] value) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(TopicCatalogue.REQUESTS, "k", value);
        for (String[] h : List.of(new String[] {ContractHeaders.TENANT, "acme"}, new String[] {ContractHeaders.API_KEY, "sk-acme"},
                new String[] {ContractHeaders.CORRELATION_ID, cid(name)})) {
            r.headers().add(h[0], h[1].getBytes(StandardCharsets.UTF_8));
        }
        return new Probe(name, code, r);
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
