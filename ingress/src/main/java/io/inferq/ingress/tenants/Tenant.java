package io.inferq.ingress.tenants;

import java.util.List;
import java.util.Objects;

/**
 * A tenant: who owns jobs, with its API keys, limits and webhook signing secrets.
 *
 * @param id                tenant id (also the Kafka {@code inferq-tenant} header value)
 * @param apiKeys           bearer tokens that authenticate as this tenant
 * @param maxQueuedJobs     most jobs not yet terminal; a submit beyond it answers 429
 * @param maxRequestBytes   largest accepted request body
 * @param requestsPerSecond sustained submit rate per ingress process (token bucket, burst = 2 s worth)
 * @param webhookSecrets    {@code whsec_<base64>} secrets; the first signs, all are sent during rotation
 * @param cacheSalt         salt mixed into this tenant's prefix-cache hashes (isolation)
 */
public record Tenant(String id, List<String> apiKeys, int maxQueuedJobs, int maxRequestBytes, double requestsPerSecond,
        List<String> webhookSecrets, String cacheSalt) {
    public Tenant {
        Objects.requireNonNull(id, "tenant id must be set");
        if (!id.matches("[A-Za-z0-9_.-]{1,64}")) {
            throw new IllegalArgumentException("tenants[].id '" + id + "' must be 1-64 of A-Z a-z 0-9 _ . -");
        }
        apiKeys = List.copyOf(apiKeys);
        webhookSecrets = List.copyOf(webhookSecrets);
        if (maxQueuedJobs < 1) {
            throw new IllegalArgumentException("tenants[" + id + "].max-queued-jobs must be at least 1, was " + maxQueuedJobs);
        }
        if (maxRequestBytes < 1024) {
            throw new IllegalArgumentException("tenants[" + id + "].max-request-bytes must be at least 1024, was " + maxRequestBytes);
        }
        if (requestsPerSecond <= 0) {
            throw new IllegalArgumentException("tenants[" + id + "].requests-per-second must be positive, was " + requestsPerSecond);
        }
        for (String s : webhookSecrets) {
            if (!s.startsWith("whsec_")) {
                throw new IllegalArgumentException("tenants[" + id + "].webhook-secrets: a secret must start with whsec_");
            }
        }
        cacheSalt = cacheSalt == null ? id : cacheSalt;
    }

    /** The open-access tenant used when no tenant is configured. */
    public static Tenant openDefault(String webhookSecret) {
        return new Tenant("default", List.of(), 100_000, 4 * 1024 * 1024, 10_000, List.of(webhookSecret), "default");
    }
}
