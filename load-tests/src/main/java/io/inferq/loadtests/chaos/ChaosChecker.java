package io.inferq.loadtests.chaos;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.job.JobStatus;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Proves the chaos run's invariants from Kafka itself (read_committed) and from what the webhook receiver saw:
 * every accepted job reached exactly one terminal state (HTTP jobs: their terminal events on
 * {@code inferq.job-events}; Kafka requests: exactly one committed result on the reply topic), and every terminal HTTP
 * job's {@code job.completed} webhook was delivered (answered 2xx) or dead-lettered, with at most one distinct
 * {@code webhook-id} per job (repeats of that id are counted, and allowed). Batch lines: every line of every created
 * batch is in exactly one line of the batch's output or error file once the batch has ended (read over HTTP).
 */
final class ChaosChecker {

    /** What the topics and the receiver say now. */
    record Observed(Map<String, Set<String>> terminalStatuses, Map<String, Integer> resultsByCorrelation,
            Set<String> deadLettered, Map<String, Integer> batchLines) {
    }

    /** One row of the table. */
    record Row(String fault, int accepted, int refused, int completed, int lost, int duplicated, int webhooksExpected,
            int webhooksDone, int webhookIdClashes, int webhookRepeats, double recoverS) {
        boolean ok() {
            return lost == 0 && duplicated == 0 && webhooksDone == webhooksExpected && webhookIdClashes == 0;
        }
    }

    private final KafkaClientSettings kafka;
    private final String replyTopic;
    private final AvroSerde<JobEvent> events = new AvroSerde<>(JobEvent.class);

    private final String base;
    private final java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(2)).build();
    /** Lines of batches that have ended ({@code <batch id>/<custom_id>} → occurrences in its files): they cannot change. */
    private final Map<String, Integer> endedBatchLines = new HashMap<>();
    private final Set<String> endedBatches = new HashSet<>();

    ChaosChecker(String bootstrap, String replyTopic, String base) {
        this.kafka = KafkaClientSettings.of(bootstrap);
        this.replyTopic = replyTopic;
        this.base = base;
    }

    /** Reads each ended batch's output and error files once; a batch still running (or not answering) counts no line. */
    private Map<String, Integer> batchLines(List<String> batchIds) {
        for (String id : batchIds) {
            if (endedBatches.contains(id)) {
                continue;
            }
            try {
                io.vertx.core.json.JsonObject b = new io.vertx.core.json.JsonObject(get("/v1/batches/" + id));
                if (!Set.of("completed", "failed", "expired", "cancelled").contains(b.getString("status"))) {
                    continue;
                }
                Map<String, Integer> lines = new HashMap<>();
                for (String file : new String[] {b.getString("output_file_id"), b.getString("error_file_id")}) {
                    if (file == null) {
                        continue;
                    }
                    get("/v1/files/" + file + "/content").lines().filter(l -> !l.isBlank()).forEach(l -> lines.merge(
                            id + "/" + new io.vertx.core.json.JsonObject(l).getString("custom_id"), 1, Integer::sum));
                }
                endedBatchLines.putAll(lines);
                endedBatches.add(id);
            } catch (java.io.IOException | RuntimeException e) {
                // not answering now (a restart): read again on the next look
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return Map.copyOf(endedBatchLines);
    }

    private String get(String path) throws java.io.IOException, InterruptedException {
        java.net.http.HttpResponse<String> r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + path))
                .timeout(Duration.ofSeconds(10)).GET().build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new java.io.IOException(path + " answered " + r.statusCode());
        }
        return r.body();
    }

    Observed observe(List<String> batchIds) {
        Map<String, Set<String>> terminal = new HashMap<>();
        for (ConsumerRecord<String, byte[]> r : readAll(TopicCatalogue.JOB_EVENTS)) {
            if (r.value() == null) {
                continue;
            }
            JobEvent e = events.decode(r.value());
            if (JobStatus.fromWire(e.getStatus()).isTerminal()) {
                terminal.computeIfAbsent(String.valueOf(e.getJobId()), k -> new HashSet<>()).add(e.getStatus().name());
            }
        }
        Map<String, Integer> results = new HashMap<>();
        for (ConsumerRecord<String, byte[]> r : readAll(replyTopic)) {
            Header h = r.headers().lastHeader("inferq-correlation-id");
            String id = h != null ? new String(h.value(), StandardCharsets.UTF_8) : r.key();
            results.merge(id, 1, Integer::sum);
        }
        Set<String> dlq = new HashSet<>();
        for (ConsumerRecord<String, byte[]> r : readAll(TopicCatalogue.WEBHOOK_DLQ)) {
            dlq.add(r.key());
        }
        return new Observed(terminal, results, dlq, batchLines(batchIds));
    }

    /** @return the rows, one per phase (fault), in order */
    List<Row> rows(List<String> faults, List<Double> recoverS, List<ChaosLoad.Accepted> accepted, Map<Integer, Integer> refused,
            List<ChaosFixtures.Received> received, Observed o) {
        Map<String, Set<String>> idsByJob = new HashMap<>();
        Map<String, Integer> deliveredByJob = new HashMap<>();
        Map<String, Integer> requestsById = new HashMap<>();
        for (ChaosFixtures.Received r : received) {
            if (r.jobId() == null || !"job.completed".equals(r.type())) {
                continue;
            }
            idsByJob.computeIfAbsent(r.jobId(), k -> new HashSet<>()).add(String.valueOf(r.webhookId()));
            requestsById.merge(String.valueOf(r.webhookId()), 1, Integer::sum);
            if (r.status() >= 200 && r.status() < 300) {
                deliveredByJob.merge(r.jobId(), 1, Integer::sum);
            }
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < faults.size(); i++) {
            int acc = 0;
            int completed = 0;
            int lost = 0;
            int dup = 0;
            int whExpected = 0;
            int whDone = 0;
            int clashes = 0;
            int repeats = 0;
            for (ChaosLoad.Accepted a : accepted) {
                if (a.phase() != i) {
                    continue;
                }
                acc++;
                if (a.http()) {
                    Set<String> t = o.terminalStatuses().getOrDefault(a.id(), Set.of());
                    if (t.isEmpty()) {
                        lost++;
                        continue;
                    }
                    completed++;
                    if (t.size() > 1) {
                        dup++;
                    }
                    whExpected++;
                    String expectedId = completedWebhookId(a.id());
                    Set<String> ids = idsByJob.getOrDefault(a.id(), Set.of());
                    if (deliveredByJob.containsKey(a.id()) || o.deadLettered().contains(expectedId)) {
                        whDone++;
                    }
                    if (ids.size() > 1 || !ids.isEmpty() && !ids.contains(expectedId)) {
                        clashes++;
                    }
                    repeats += Math.max(0, requestsById.getOrDefault(expectedId, 0) - 1);
                } else {
                    int n = a.entry() == ChaosLoad.Entry.KAFKA ? o.resultsByCorrelation().getOrDefault(a.id(), 0)
                            : o.batchLines().getOrDefault(a.id(), 0);
                    if (n == 0) {
                        lost++;
                    } else {
                        completed++;
                        if (n > 1) {
                            dup++;
                        }
                    }
                }
            }
            rows.add(new Row(faults.get(i), acc, refused.getOrDefault(i, 0), completed, lost, dup, whExpected, whDone, clashes,
                    repeats, recoverS.get(i)));
        }
        return rows;
    }

    /** The {@code webhook-id} inferq gives a job's completed event (SHA-256 of job id and event type, as documented). */
    static String completedWebhookId(String jobId) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((jobId + "\njob.completed").getBytes(StandardCharsets.UTF_8));
            return "msg_" + HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private List<ConsumerRecord<String, byte[]>> readAll(String topic) {
        Properties p = kafka.consumer("inferq-chaos-checker", null);
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(pi -> new TopicPartition(topic, pi.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(10));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (System.nanoTime() < deadline) {
                boolean done = true;
                for (TopicPartition tp : parts) {
                    done &= c.position(tp, Duration.ofSeconds(10)) >= end.get(tp);
                }
                if (done) {
                    break;
                }
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }
}
