package io.inferq.broker.topics;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Every topic inferq uses, with its partitions and retention. This class is the Kafka contract's
 * single source of names; nothing else spells a topic name.
 *
 * <ul>
 *   <li>{@value #REQUESTS} / {@value #REQUESTS_BATCH}: accepted jobs, interactive and batch lanes (7 days).</li>
 *   <li>{@value #REQUESTS_DLQ}: request records that could not be parsed or validated (30 days).</li>
 *   <li>{@code inferq.pool.<pool-id>}: batches for one chip pool (1 day).</li>
 *   <li>{@value #RESULTS}: one terminal result per job (7 days).</li>
 *   <li>{@value #JOB_EVENTS}: job state snapshots keyed by job id, <b>compacted</b> so the latest state
 *       of every job is kept (for 7 days, like the requests).</li>
 *   <li>{@value #JOB_TOKENS}: generated text of streamed jobs as it is produced (10 minutes; not a result).</li>
 *   <li>{@value #WEBHOOK_DELIVERIES}: pending webhook deliveries and their retry state (compacted), and
 *       {@value #WEBHOOK_DLQ} for exhausted ones.</li>
 *   <li>{@value #FILES}: Files API content in chunks of at most 512 KiB and file metadata (compacted; kept until
 *       deleted or expired, when tombstones remove it). {@value #BATCHES}: Batch API snapshots (compacted).</li>
 * </ul>
 */
public final class TopicCatalogue {
    public static final String REQUESTS = "inferq.requests";
    public static final String REQUESTS_BATCH = "inferq.requests.batch";
    public static final String REQUESTS_DLQ = "inferq.requests.dlq";
    public static final String RESULTS = "inferq.results";
    public static final String JOB_EVENTS = "inferq.job-events";
    public static final String WEBHOOK_DELIVERIES = "inferq.webhook-deliveries";
    public static final String WEBHOOK_DLQ = "inferq.webhook-deliveries.dlq";
    public static final String POOL_PREFIX = "inferq.pool.";
    /**
     * Generated text of {@code stream: true} jobs as the workers produce it, keyed by job id (JSON values). Not part of
     * the exactly-once result path: a hint for the ingress process holding the caller's connection; short retention.
     */
    public static final String JOB_TOKENS = "inferq.job-tokens";
    /** How long {@link #JOB_TOKENS} keeps its records. */
    public static final long JOB_TOKENS_RETENTION_MS = 10 * 60 * 1000L;
    /** Files of the Files API: metadata and content chunks keyed {@code <file-id>/...}, compacted; deletes are tombstones. */
    public static final String FILES = "inferq.files";
    /** Batches of the Batch API: the latest snapshot of every batch keyed by batch id (plus cancel requests), compacted. */
    public static final String BATCHES = "inferq.batches";

    private static final Pattern POOL_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    private static final long DAY_MS = 24L * 3600 * 1000;
    /**
     * Largest record (after compression) the request, dead-letter, result and pool topics accept, and inferq's producers
     * send ({@code max.message.bytes}, {@code max.request.size}): Kafka's 1 MB default is below a prompt that fits a
     * 128k-token context in a CJK script (3 bytes a character), and a pool batch carries several prompts.
     */
    public static final int MAX_RECORD_BYTES = 16 * 1024 * 1024;

    private TopicCatalogue() {
    }

    /** @return the batch topic of a pool */
    public static String poolTopic(String poolId) {
        requireValidPoolId(poolId);
        return POOL_PREFIX + poolId;
    }

    /** @return whether {@code topic} is a pool's batch topic ({@code inferq.pool.<id>}) */
    public static boolean isPoolTopic(String topic) {
        return topic.startsWith(POOL_PREFIX);
    }

    /** @throws IllegalArgumentException when the pool id cannot be part of a topic name */
    public static void requireValidPoolId(String poolId) {
        if (poolId == null || !POOL_ID.matcher(poolId).matches()) {
            throw new IllegalArgumentException("pool id '" + poolId
                    + "' must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit");
        }
    }

    /**
     * @param partitions partitions of the request, result and event topics
     * @param poolIds    the pools whose batch topics to declare
     * @return the full catalogue
     */
    public static List<TopicSpec> topics(int partitions, Collection<String> poolIds) {
        Map<String, Integer> instances = new java.util.LinkedHashMap<>();
        poolIds.forEach(p -> instances.put(p, 1));
        return topics(partitions, instances);
    }

    /**
     * As {@link #topics(int, Collection)}, with each pool's batch topic given at least as many partitions as the pool
     * has batch streams (instances × batch credits per instance): the dispatcher writes each batch to the partition of
     * one stream of the instance it planned the batch for, read by one worker slot, so a pool with fewer partitions
     * than streams would queue one batch behind another on a slot.
     *
     * @param instancesByPool pool id → batch streams of the pool (instances × batch credits per instance)
     */
    public static List<TopicSpec> topics(int partitions, Map<String, Integer> instancesByPool) {
        List<TopicSpec> specs = new ArrayList<>();
        specs.add(new TopicSpec(REQUESTS, partitions, large(retention(7 * DAY_MS))));
        specs.add(new TopicSpec(REQUESTS_BATCH, partitions, large(retention(7 * DAY_MS))));
        specs.add(new TopicSpec(REQUESTS_DLQ, 1, large(retention(30 * DAY_MS))));
        specs.add(new TopicSpec(RESULTS, partitions, large(retention(7 * DAY_MS))));
        // compacted (the latest state of every job) and deleted after the request topics' retention:
        // a job older than that can no longer run, so its state need not outlive it
        specs.add(new TopicSpec(JOB_EVENTS, partitions, Map.of(
                "cleanup.policy", "compact,delete",
                "retention.ms", String.valueOf(7 * DAY_MS),
                "min.compaction.lag.ms", String.valueOf(DAY_MS),
                "segment.ms", String.valueOf(DAY_MS))));
        specs.add(new TopicSpec(WEBHOOK_DELIVERIES, partitions, Map.of("cleanup.policy", "compact")));
        specs.add(new TopicSpec(JOB_TOKENS, partitions, Map.of("cleanup.policy", "delete",
                "retention.ms", String.valueOf(JOB_TOKENS_RETENTION_MS), "segment.ms", String.valueOf(JOB_TOKENS_RETENTION_MS))));
        specs.add(new TopicSpec(WEBHOOK_DLQ, 1, retention(30 * DAY_MS)));
        specs.add(new TopicSpec(FILES, partitions, Map.of("cleanup.policy", "compact",
                "max.message.bytes", String.valueOf(2 * 1024 * 1024), "segment.bytes", String.valueOf(256 * 1024 * 1024))));
        specs.add(new TopicSpec(BATCHES, partitions, Map.of("cleanup.policy", "compact")));
        instancesByPool.forEach((pool, instances) ->
                specs.add(new TopicSpec(poolTopic(pool), Math.max(partitions, instances), large(retention(DAY_MS)))));
        return List.copyOf(specs);
    }

    private static Map<String, String> large(Map<String, String> config) {
        Map<String, String> c = new java.util.HashMap<>(config);
        c.put("max.message.bytes", String.valueOf(MAX_RECORD_BYTES));
        return Map.copyOf(c);
    }

    private static Map<String, String> retention(long ms) {
        return Map.of("cleanup.policy", "delete", "retention.ms", String.valueOf(ms));
    }
}
