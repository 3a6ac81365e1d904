package io.inferq.ingress.batch;

import io.inferq.broker.client.ConsumerThread;
import io.inferq.broker.client.GroupMembership;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.files.TopicReplica;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Batch state, durable in the compacted topic {@value TopicCatalogue#BATCHES}: under the batch id, the latest snapshot
 * of the batch (the API's batch object plus an {@code _inferq} section of runner state); under {@code <id>#cancel}, a
 * cancel request, which any process may write and only the batch's runner acts on (so the runner stays the only writer
 * of snapshots). Every process replays the topic into memory for reads; a batch's records all go to one partition,
 * and the process owning that partition in the runners' group runs the batch (a {@link GroupMembership}).
 *
 * <p>Blocking methods (writes wait for Kafka; reads wait for the replica to catch up with writes of other processes):
 * call from worker threads.
 */
final class BatchStore implements AutoCloseable {
    static final String INTERNAL = "_inferq";
    private static final Duration BARRIER = Duration.ofSeconds(3);
    private static final String CANCEL_SUFFIX = "#cancel";

    private final Producer<String, byte[]> producer;
    private final int partitions;
    private final TopicReplica replica;
    private final GroupMembership ownership;
    private final Map<String, JsonObject> batches = new ConcurrentHashMap<>();
    private final Map<String, Long> cancelRequests = new ConcurrentHashMap<>();

    BatchStore(KafkaClientSettings kafka, Producer<String, byte[]> producer) {
        this.producer = producer;
        this.partitions = producer.partitionsFor(TopicCatalogue.BATCHES).size();
        this.replica = new TopicReplica("batches-view", kafka, TopicCatalogue.BATCHES, this::apply);
        this.ownership = new GroupMembership("batch-ownership",
                ConsumerThread.kafkaConsumers(kafka.consumer("batch-runner", "inferq-batch-runners")), TopicCatalogue.BATCHES, owned -> { });
    }

    void start() {
        replica.start();
        ownership.start();
    }

    boolean isReady() {
        return replica.isCaughtUp() && ownership.assignedOnce();
    }

    private void apply(ConsumerRecord<String, byte[]> r) {
        String key = r.key();
        if (key == null) {
            return;
        }
        if (key.endsWith(CANCEL_SUFFIX)) {
            String id = key.substring(0, key.length() - CANCEL_SUFFIX.length());
            if (r.value() == null) {
                cancelRequests.remove(id);
            } else {
                cancelRequests.putIfAbsent(id, new JsonObject(new String(r.value(), StandardCharsets.UTF_8)).getLong("at"));
            }
            return;
        }
        if (r.value() == null) {
            batches.remove(key);
            return;
        }
        JsonObject snapshot = new JsonObject(new String(r.value(), StandardCharsets.UTF_8));
        batches.merge(key, snapshot, BatchStore::newer);
    }

    /** Of two snapshots of a batch, the later one (a revision number orders them; the record order breaks ties). */
    private static JsonObject newer(JsonObject current, JsonObject incoming) {
        return revision(incoming) >= revision(current) ? incoming : current;
    }

    static long revision(JsonObject b) {
        return b.getJsonObject(INTERNAL).getLong("revision", 0L);
    }

    int partitionOf(String id) {
        return Math.floorMod(id.hashCode(), partitions);
    }

    boolean owns(String id) {
        return ownership.owns(partitionOf(id));
    }

    /** Writes a snapshot (its revision one above the one it replaces) and waits until Kafka has it. */
    JsonObject write(JsonObject snapshot) {
        JsonObject next = snapshot.copy();
        next.getJsonObject(INTERNAL).put("revision", revision(snapshot) + 1);
        send(next.getString("id"), next.encode().getBytes(StandardCharsets.UTF_8));
        batches.merge(next.getString("id"), next, BatchStore::newer);
        return next;
    }

    void requestCancel(String id, long atSeconds) {
        send(id + CANCEL_SUFFIX, new JsonObject().put("at", atSeconds).encode().getBytes(StandardCharsets.UTF_8));
        cancelRequests.putIfAbsent(id, atSeconds);
    }

    /** @return when a cancel was requested (Unix seconds), or null */
    Long cancelRequestedAt(String id) {
        return cancelRequests.get(id);
    }

    private void send(String key, byte[] value) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        try {
            producer.send(new ProducerRecord<>(TopicCatalogue.BATCHES, partitionOf(key.replace(CANCEL_SUFFIX, "")), key, value),
                    (md, ex) -> {
                        if (ex != null) {
                            f.completeExceptionally(ex);
                        } else {
                            f.complete(null);
                        }
                    });
            f.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing batch state", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("batch state could not be written: " + e.getMessage(), e);
        }
    }

    /** @return the tenant's batch, as last written (waits for writes of other processes) */
    Optional<JsonObject> get(String tenant, String id) {
        replica.awaitLatest(BARRIER);
        return local(id).filter(b -> tenant.equals(b.getJsonObject(INTERNAL).getString("tenant")));
    }

    Optional<JsonObject> local(String id) {
        return Optional.ofNullable(batches.get(id));
    }

    /** A page of batches, newest first. */
    record Page(List<JsonObject> batches, boolean hasMore) {
    }

    Page list(String tenant, String after, int limit) {
        replica.awaitLatest(BARRIER);
        List<JsonObject> all = new ArrayList<>();
        for (JsonObject b : batches.values()) {
            if (tenant.equals(b.getJsonObject(INTERNAL).getString("tenant"))) {
                all.add(b);
            }
        }
        all.sort(Comparator.<JsonObject>comparingLong(b -> b.getLong("created_at")).thenComparing(b -> b.getString("id")).reversed());
        int from = 0;
        if (after != null) {
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).getString("id").equals(after)) {
                    from = i + 1;
                    break;
                }
            }
        }
        return new Page(List.copyOf(all.subList(Math.min(from, all.size()), Math.min(all.size(), from + limit))),
                from + limit < all.size());
    }

    /**
     * The newest {@code limit} batches this process holds, newest first, without waiting for other processes' writes
     * (the console's view): a bounded heap over the in-memory replica, so it never blocks.
     *
     * @param tenant the tenant, or null for every tenant
     */
    Page recent(String tenant, int limit) {
        Comparator<JsonObject> newestFirst = Comparator.<JsonObject>comparingLong(b -> b.getLong("created_at"))
                .thenComparing(b -> b.getString("id")).reversed();
        java.util.PriorityQueue<JsonObject> heap = new java.util.PriorityQueue<>(limit + 1, newestFirst.reversed());
        int matching = 0;
        for (JsonObject b : batches.values()) {
            if (tenant == null || tenant.equals(b.getJsonObject(INTERNAL).getString("tenant"))) {
                matching++;
                heap.add(b);
                if (heap.size() > limit) {
                    heap.poll(); // the oldest of limit + 1
                }
            }
        }
        List<JsonObject> page = new ArrayList<>(heap);
        page.sort(newestFirst);
        return new Page(List.copyOf(page), matching > limit);
    }

    /** @return every batch this process knows */
    List<JsonObject> all() {
        return List.copyOf(batches.values());
    }

    @Override
    public void close() {
        ownership.close();
        replica.close();
    }
}
