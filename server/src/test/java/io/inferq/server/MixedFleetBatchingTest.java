package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.PoolBatch;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * A fleet of three chip kinds serving one model takes jobs whose prompts differ by two orders of
 * magnitude; every batch the dispatcher sends holds jobs of one length bucket only, and (with
 * round-robin routing) every chip kind serves some of them.
 */
class MixedFleetBatchingTest {
    private static final int[] EDGES = {256, 1024, 4096, 16384};

    @Test
    void everyBatchHoldsOneLengthBucketAndEveryChipKindServes() {
        try (InferqServer server = TestInferq.start(tree -> {
            ArrayNode pools = tree.putArray("pools");
            pool(pools.addObject(), "c500-lite", "metax-c500", 2);
            pool(pools.addObject(), "s4000-lite", "mtt-s4000", 2);
            pool(pools.addObject(), "h800-lite", "h800", 1);
            ArrayNode edges = ((ObjectNode) tree.get("dispatcher")).putArray("bucket-edges");
            for (int e : EDGES) {
                edges.add(e);
            }
            // round-robin guarantees every chip kind gets batches; the default policy may rightly hold work for faster chips
            ((ObjectNode) tree.get("dispatcher")).put("interactive-max-wait-ms", 200).put("policy", "round-robin");
        })) {
            // o200k reads a run of 'w' as one token per two characters: prompts of ~100, 800, 3,000 and 12,000 tokens,
            // one per bucket, the largest still within every pool's 16,384-token batch budget
            int[] promptChars = {200, 1_600, 6_000, 24_000};
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                String content = "w".repeat(promptChars[i % promptChars.length] + i);
                var r = TestInferq.http(server, "POST", "/v1/jobs", "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\","
                        + "\"content\":\"" + content + "\"}],\"max_tokens\":64}");
                assertThat(r.statusCode()).isEqualTo(202);
                ids.add(new JsonObject(r.body()).getString("id"));
            }
            Set<String> chips = new HashSet<>();
            for (String id : ids) {
                TestInferq.await(Duration.ofSeconds(120), () -> Set.of("succeeded", "failed", "cancelled", "expired")
                        .contains(job(server, id).getString("status")), id + " to finish");
                JsonObject done = job(server, id);
                assertThat(done.getString("status")).as(done.encode()).isEqualTo("succeeded");
                chips.add(done.getString("chip"));
            }
            assertThat(chips).as("chip kinds that served jobs").containsExactlyInAnyOrder("metax-c500", "mtt-s4000", "h800");

            Map<String, Integer> jobsSeen = new HashMap<>();
            for (PoolBatch batch : readBatches(server.kafkaBootstrapServers(), ids.size())) {
                Set<Integer> buckets = new HashSet<>();
                for (JobRequest j : batch.getJobs()) {
                    buckets.add(bucketOf(j.getPromptTokens()));
                    assertThat(j.getPromptTokens()).isLessThanOrEqualTo(batch.getBucketUpperTokens());
                    jobsSeen.merge(j.getJobId(), 1, Integer::sum);
                }
                assertThat(buckets).as("buckets in batch " + batch.getBatchId()).hasSize(1);
                // the dispatcher's block hashes travel with the batch, so the worker does not tokenise the prompts again
                assertThat(batch.getPromptBlocks()).as("prompt blocks of " + batch.getBatchId()).isNotNull();
                assertThat(batch.getPromptBlocks().getHashesByJob()).hasSameSizeAs(batch.getJobs());
                for (int i = 0; i < batch.getJobs().size(); i++) {
                    assertThat(batch.getPromptBlocks().getHashesByJob().get(i))
                            .hasSize(batch.getJobs().get(i).getPromptTokens() / batch.getPromptBlocks().getBlockTokens());
                }
            }
            assertThat(jobsSeen.keySet()).containsAll(ids);
        }
    }

    private static void pool(ObjectNode p, String id, String chip, int instances) {
        p.put("id", id).put("chip", chip).put("chips-per-instance", 1).put("instances", instances).put("model", "deepseek-v2-lite")
                .put("backend", "simulated").put("max-batch-tokens", 16384).put("max-concurrent-sequences", 8).put("time-scale", 100.0);
    }

    private static int bucketOf(int tokens) {
        for (int i = 0; i < EDGES.length; i++) {
            if (tokens <= EDGES[i]) {
                return i;
            }
        }
        return EDGES.length;
    }

    private static JsonObject job(InferqServer server, String id) {
        return new JsonObject(TestInferq.http(server, "GET", "/v1/jobs/" + id, null).body());
    }

    private static List<PoolBatch> readBatches(String bootstrap, int expectedJobs) {
        AvroSerde<PoolBatch> serde = new AvroSerde<>(PoolBatch.class);
        List<PoolBatch> batches = new ArrayList<>();
        var props = KafkaClientSettings.of(bootstrap).consumer("batch-reader", "batch-reader-" + System.nanoTime());
        try (var c = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
            c.subscribe(Pattern.compile("inferq\\.pool\\..*"));
            int jobs = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (jobs < expectedJobs && System.nanoTime() < deadline) {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    PoolBatch b = serde.decode(r.value());
                    batches.add(b);
                    jobs += b.getJobs().size();
                }
            }
        }
        return batches;
    }
}
