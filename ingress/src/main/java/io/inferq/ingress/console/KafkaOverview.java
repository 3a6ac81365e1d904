package io.inferq.ingress.console;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The console's Kafka view: inferq's topics with partitions and end offsets, and the lag of every consumer group
 * whose id starts with {@code inferq} (dispatcher lanes, pool workers, webhook deliverers). The job view follows
 * {@code inferq.job-events} without a group (every ingress process reads every record), so it is reported as caught up
 * or not instead of a lag.
 *
 * <p>Cost: a handful of Admin requests (list topics, describe, end offsets, list groups, their committed offsets),
 * each bounded by a timeout, run on a worker thread ({@code executeBlocking}), never on an event loop; the answer (or
 * the failure) is cached for the TTL and concurrent callers share one refresh.
 */
public final class KafkaOverview {
    private static final long TIMEOUT_MS = 3000;
    private final Vertx vertx;
    private final Admin admin;
    private final BooleanSupplier viewCaughtUp;
    private final Clock clock;
    private final long ttlMs;
    private Future<JsonObject> cached;
    private long cachedAtMs;

    public KafkaOverview(Vertx vertx, Admin admin, BooleanSupplier viewCaughtUp, Clock clock, long ttlMs) {
        this.vertx = vertx;
        this.admin = admin;
        this.viewCaughtUp = viewCaughtUp;
        this.clock = clock;
        this.ttlMs = ttlMs;
    }

    /** @return the cached snapshot, refreshed when older than the TTL. Call from one context (the HTTP verticle's). */
    public Future<JsonObject> snapshot() {
        long now = clock.millis();
        if (cached != null && (!cached.isComplete() || now - cachedAtMs < ttlMs)) { // a failure is kept as long, too
            return cached;
        }
        cachedAtMs = now;
        cached = admin == null ? Future.succeededFuture(new JsonObject().put("available", false))
                : vertx.executeBlocking(this::read, false);
        return cached;
    }

    private JsonObject read() throws Exception {
        Collection<String> names = new TreeSet<>();
        for (String t : admin.listTopics().names().get(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            if (t.startsWith("inferq")) {
                names.add(t);
            }
        }
        Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        described.values().forEach(d -> d.partitions().forEach(p -> latest.put(new TopicPartition(d.name(), p.partition()),
                OffsetSpec.latest())));
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = latest.isEmpty() ? Map.of()
                : admin.listOffsets(latest).all().get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        JsonArray topics = new JsonArray();
        for (String name : names) {
            TopicDescription d = described.get(name);
            if (d == null) {
                continue;
            }
            long sum = 0;
            JsonArray parts = new JsonArray();
            for (var p : d.partitions()) {
                var info = ends.get(new TopicPartition(name, p.partition()));
                long end = info == null ? -1 : info.offset();
                sum += Math.max(0, end);
                parts.add(new JsonObject().put("partition", p.partition()).put("end_offset", end)
                        .put("leader", p.leader() == null ? null : p.leader().id()));
            }
            topics.add(new JsonObject().put("name", name).put("partitions", d.partitions().size()).put("end_offsets", sum)
                    .put("by_partition", parts));
        }
        List<String> groupIds = new ArrayList<>();
        for (GroupListing g : admin.listGroups().all().get(TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            if (g.groupId().startsWith("inferq")) {
                groupIds.add(g.groupId());
            }
        }
        java.util.Collections.sort(groupIds);
        JsonArray groups = new JsonArray();
        if (!groupIds.isEmpty()) {
            Map<String, ListConsumerGroupOffsetsSpec> specs = new HashMap<>();
            groupIds.forEach(g -> specs.put(g, new ListConsumerGroupOffsetsSpec()));
            Map<String, Map<TopicPartition, OffsetAndMetadata>> committed = admin.listConsumerGroupOffsets(specs).all()
                    .get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            for (String g : groupIds) {
                Map<String, long[]> byTopic = new TreeMap<>(); // topic -> {committed sum, lag}
                committed.getOrDefault(g, Map.of()).forEach((tp, om) -> {
                    var end = ends.get(tp);
                    long lag = om == null || end == null ? 0 : Math.max(0, end.offset() - om.offset());
                    long[] acc = byTopic.computeIfAbsent(tp.topic(), k -> new long[2]);
                    acc[0] += om == null ? 0 : om.offset();
                    acc[1] += lag;
                });
                JsonArray t = new JsonArray();
                long total = 0;
                for (var e : byTopic.entrySet()) {
                    t.add(new JsonObject().put("topic", e.getKey()).put("committed", e.getValue()[0]).put("lag", e.getValue()[1]));
                    total += e.getValue()[1];
                }
                groups.add(new JsonObject().put("group", g).put("role", role(g)).put("lag", total).put("topics", t));
            }
        }
        groups.add(new JsonObject().put("group", null).put("role", "job view (no group: follows inferq.job-events)")
                .put("caught_up", viewCaughtUp.getAsBoolean()));
        return new JsonObject().put("available", true).put("read_at", clock.millis() / 1000.0)
                .put("topics", topics).put("groups", groups);
    }

    static String role(String group) {
        if (group.startsWith("inferq-dispatcher")) {
            return "dispatcher";
        }
        if (group.startsWith("inferq.pool.") && group.endsWith(".workers")) {
            return "workers";
        }
        if (group.contains("webhook")) {
            return "webhooks";
        }
        return "other";
    }
}
