package io.inferq.server.kafka;

import static io.inferq.server.kafka.KafkaContractClient.header;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.dispatcher.runtime.contract.ContractHeaders;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.Test;

/**
 * Exactly one result per job as a {@code read_committed} consumer sees it, even when the worker process
 * is replaced mid-way by a new incarnation while the old one is still running (the hard case of a crash:
 * a "zombie" that was presumed dead). Three processes share one broker and one Hazelcast cluster, as in
 * production: A runs the broker, Hazelcast and the dispatcher; W1 and then W2 run the workers with the
 * same process id, so W2's transactional ids fence W1's — W1's open transactions are aborted and
 * its batches run again in W2.
 */
class ExactlyOnceResultsTest {
    private static final int JOBS = 48;
    private static final String REPLY = "it.eos.replies";

    @Test
    void aReplacedWorkerProcessNeverYieldsASecondCommittedResult() throws Exception {
        int hzPort = TestInferq.freePort();
        String cluster = "inferq-eos-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        Consumer<ObjectNode> pools = tree -> KafkaContractClient.litePools(tree, 20.0, 6, 8192, Map.of("mtt-s4000", 1));
        try (InferqServer a = TestInferq.start(tree -> {
            pools.accept(tree);
            tree.putArray("roles").add("dispatcher");
            ((ObjectNode) tree.get("hazelcast")).put("port", hzPort).put("cluster-name", cluster);
        })) {
            Consumer<ObjectNode> workerOnly = tree -> {
                pools.accept(tree);
                tree.putArray("roles").add("workers");
                tree.put("process-id", "eos-worker");
                ((ObjectNode) tree.get("kafka")).put("embedded", false).put("bootstrap-servers", a.kafkaBootstrapServers());
                ObjectNode hz = (ObjectNode) tree.get("hazelcast");
                hz.put("embedded", false).put("cluster-name", cluster).putArray("members").add("127.0.0.1:" + hzPort);
            };
            KafkaContractClient.createTopic(a, REPLY);
            InferqServer w1 = TestInferq.start(workerOnly);
            InferqServer w2 = null;
            try {
                try (KafkaProducer<String, byte[]> p = KafkaContractClient.producer(a)) {
                    for (int i = 0; i < JOBS; i++) {
                        p.send(KafkaContractClient.json(TopicCatalogue.REQUESTS, "k" + i,
                                KafkaContractClient.chatJson("deepseek-v2-lite", "job " + i, 48),
                                ContractHeaders.CORRELATION_ID, "eos-" + i, ContractHeaders.REPLY_TOPIC, REPLY));
                    }
                }
                // let W1 commit some results, then replace it while it still has work in hand
                KafkaContractClient.readUntil(a, List.of(REPLY), "read_committed", all -> !all.isEmpty(), Duration.ofSeconds(60), Duration.ZERO);
                w2 = TestInferq.start(workerOnly);
                List<ConsumerRecord<String, byte[]>> committed = KafkaContractClient.readUntil(a, List.of(REPLY), "read_committed",
                        all -> all.size() >= JOBS, Duration.ofSeconds(120), Duration.ofSeconds(3));
                List<ConsumerRecord<String, byte[]>> raw = KafkaContractClient.readUntil(a, List.of(REPLY), "read_uncommitted",
                        all -> all.size() >= JOBS, Duration.ofSeconds(30), Duration.ofSeconds(1));

                Map<String, Integer> perJob = new HashMap<>();
                Map<String, Integer> perCorrelation = new HashMap<>();
                for (ConsumerRecord<String, byte[]> r : committed) {
                    JobResult res = io.inferq.job.ResultRecords.decode(r.value());
                    perJob.merge(res.getJobId(), 1, Integer::sum);
                    perCorrelation.merge(header(r, ContractHeaders.CORRELATION_ID), 1, Integer::sum);
                }
                System.out.printf("exactly-once: %d committed results for %d jobs; %d records in the log including aborted ones%n",
                        committed.size(), JOBS, raw.size());
                assertThat(perJob).hasSize(JOBS);
                assertThat(perJob.values()).allMatch(n -> n == 1);
                assertThat(perCorrelation).hasSize(JOBS);
                assertThat(raw.size()).isGreaterThanOrEqualTo(committed.size());
            } finally {
                if (w2 != null) {
                    w2.close();
                }
                w1.close();
            }
        }
    }
}
