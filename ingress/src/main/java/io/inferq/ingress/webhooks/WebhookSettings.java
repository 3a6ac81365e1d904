package io.inferq.ingress.webhooks;

import io.inferq.broker.topics.TopicCatalogue;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of webhook delivery, validated here with messages that name the setting.
 *
 * @param timeout             one attempt's limit (connect + response), default 15 s; a timeout is a failed attempt
 * @param inlineOutputLimit   outputs longer than this many characters are sent as {@code result.output_url}
 * @param allowPrivateTargets when true, loopback/private/link-local targets are accepted (embedded laptop mode);
 *                            cloud metadata addresses stay refused unless allowlisted
 * @param allowlist           trusted internal receivers: host names (exact, case-insensitive), IP literals or
 *                            CIDRs ({@code 10.1.0.0/16}, {@code fd12::/16}); accepted even when private
 * @param maxConcurrent       most HTTP attempts in flight at once per process
 * @param maxPending          most pending + failed deliveries held in memory per process; beyond it the
 *                            process stops reading the delivery topic (records stay in Kafka) until some settle
 * @param creationHorizon     a job snapshot whose state was entered longer ago than this creates no delivery
 *                            (it is history being replayed); delivered markers are kept this long, then deleted
 * @param failedRetention     how long dead-lettered deliveries stay listable and replayable
 * @param jitter              relative jitter of each retry delay, 0 to 0.5 (0.1 = ±10 %)
 * @param tick                how often due deliveries are looked for (real time)
 * @param deliveriesTopic     the compacted delivery-state topic
 * @param dlqTopic            the dead-letter topic
 * @param groupId             consumer group that divides delivery partitions among ingress processes
 */
public record WebhookSettings(Duration timeout, int inlineOutputLimit, boolean allowPrivateTargets, List<String> allowlist,
        int maxConcurrent, int maxPending, Duration creationHorizon, Duration failedRetention, double jitter,
        Duration tick, String deliveriesTopic, String dlqTopic, String groupId) {

    public WebhookSettings {
        Objects.requireNonNull(timeout, "webhooks.timeout must be set");
        if (timeout.toMillis() < 1 || timeout.compareTo(Duration.ofMinutes(5)) > 0) {
            throw new IllegalArgumentException("webhooks.timeout must be between 1 ms and 5 min, was " + timeout);
        }
        if (inlineOutputLimit < 0) {
            throw new IllegalArgumentException("webhooks.inline-output-limit must not be negative, was " + inlineOutputLimit);
        }
        allowlist = List.copyOf(Objects.requireNonNull(allowlist, "webhooks.allow-private-targets must be set (may be empty)"));
        for (String entry : allowlist) {
            String problem = AddressRules.allowlistEntryProblem(entry);
            if (problem != null) {
                throw new IllegalArgumentException("webhooks.allow-private-targets: " + problem);
            }
        }
        if (maxConcurrent < 1) {
            throw new IllegalArgumentException("webhooks.max-concurrent must be at least 1, was " + maxConcurrent);
        }
        if (maxPending < 1) {
            throw new IllegalArgumentException("webhooks.max-pending must be at least 1, was " + maxPending);
        }
        Objects.requireNonNull(creationHorizon, "webhooks.creation-horizon must be set");
        if (creationHorizon.compareTo(Duration.ofMinutes(1)) < 0) {
            throw new IllegalArgumentException("webhooks.creation-horizon must be at least 1 min, was " + creationHorizon);
        }
        Objects.requireNonNull(failedRetention, "webhooks.failed-retention must be set");
        if (failedRetention.compareTo(Duration.ofMinutes(1)) < 0) {
            throw new IllegalArgumentException("webhooks.failed-retention must be at least 1 min, was " + failedRetention);
        }
        if (!(jitter >= 0 && jitter <= 0.5)) {
            throw new IllegalArgumentException("webhooks.jitter must be between 0 and 0.5, was " + jitter);
        }
        Objects.requireNonNull(tick, "webhooks.tick must be set");
        if (tick.toMillis() < 10) {
            throw new IllegalArgumentException("webhooks.tick must be at least 10 ms, was " + tick);
        }
        requireName(deliveriesTopic, "webhooks.deliveries-topic");
        requireName(dlqTopic, "webhooks.dlq-topic");
        requireName(groupId, "webhooks.group-id");
    }

    /** 15 s timeout, 16 KiB inline outputs, public targets only, 32 concurrent, 10 000 in memory. */
    public static WebhookSettings defaults() {
        return new WebhookSettings(Duration.ofSeconds(15), 16 * 1024, false, List.of(), 32, 10_000,
                Duration.ofHours(24), Duration.ofDays(30), 0.1, Duration.ofSeconds(1),
                TopicCatalogue.WEBHOOK_DELIVERIES, TopicCatalogue.WEBHOOK_DLQ, "inferq-webhook-deliverers");
    }

    public WebhookSettings withTimeout(Duration t) {
        return new WebhookSettings(t, inlineOutputLimit, allowPrivateTargets, allowlist, maxConcurrent, maxPending,
                creationHorizon, failedRetention, jitter, tick, deliveriesTopic, dlqTopic, groupId);
    }

    public WebhookSettings withTargets(boolean allowPrivate, List<String> allow) {
        return new WebhookSettings(timeout, inlineOutputLimit, allowPrivate, allow, maxConcurrent, maxPending,
                creationHorizon, failedRetention, jitter, tick, deliveriesTopic, dlqTopic, groupId);
    }

    public WebhookSettings withLimits(int concurrent, int pending) {
        return new WebhookSettings(timeout, inlineOutputLimit, allowPrivateTargets, allowlist, concurrent, pending,
                creationHorizon, failedRetention, jitter, tick, deliveriesTopic, dlqTopic, groupId);
    }

    public WebhookSettings withTick(Duration t) {
        return new WebhookSettings(timeout, inlineOutputLimit, allowPrivateTargets, allowlist, maxConcurrent, maxPending,
                creationHorizon, failedRetention, jitter, t, deliveriesTopic, dlqTopic, groupId);
    }

    public WebhookSettings withTopics(String deliveries, String dlq, String group) {
        return new WebhookSettings(timeout, inlineOutputLimit, allowPrivateTargets, allowlist, maxConcurrent, maxPending,
                creationHorizon, failedRetention, jitter, tick, deliveries, dlq, group);
    }

    private static void requireName(String value, String setting) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(setting + " must not be blank");
        }
    }
}
