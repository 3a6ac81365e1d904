package io.inferq.workers.backend;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Where and how to reach an OpenAI-compatible engine per pool instance (vLLM and forks, SGLang, MindIE).
 *
 * @param baseUrls          one base URL per instance, without {@code /v1}, e.g. {@code http://10.0.0.5:8000}
 * @param engineModel       the model name the engine serves (its {@code --served-model-name})
 * @param connectTimeout    TCP connect timeout; positive
 * @param requestTimeout    time for a whole chat completion (no streaming), positive
 * @param idleTimeout       how long a pooled connection may stay idle before it is closed; positive
 * @param maxRetries        how often a retriable failure is retried on another instance of the pool,
 *                          0 to 10 (default {@value #DEFAULT_MAX_RETRIES})
 * @param maxConnectionsPerInstance HTTP connections kept per instance; at least 1
 * @param sendPriority      send each request's engine priority as vLLM's {@code priority} field (smaller runs first:
 *                          0 an under-share tenant's interactive work, 1 other interactive work, 2 batch-lane work), for
 *                          engines started with {@code --scheduling-policy priority}; off by default, since vLLM refuses
 *                          a non-zero priority under its default first-come-first-served policy
 */
public record OpenAiHttpSettings(List<URI> baseUrls, String engineModel, Duration connectTimeout, Duration requestTimeout,
        Duration idleTimeout, int maxRetries, int maxConnectionsPerInstance, boolean sendPriority) {
    public static final int DEFAULT_MAX_RETRIES = 2;

    public OpenAiHttpSettings {
        Objects.requireNonNull(baseUrls, "backend.baseUrls must be set");
        baseUrls = List.copyOf(baseUrls);
        if (baseUrls.isEmpty()) {
            throw new IllegalArgumentException("backend.baseUrls must name at least one instance");
        }
        for (URI url : baseUrls) {
            if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme()) || url.getHost() == null) {
                throw new IllegalArgumentException("backend.baseUrls: '" + url
                        + "' is not an absolute http(s) URL");
            }
        }
        if (engineModel == null || engineModel.isBlank()) {
            throw new IllegalArgumentException("backend.engineModel must not be blank");
        }
        requirePositive(connectTimeout, "backend.connectTimeout");
        requirePositive(requestTimeout, "backend.requestTimeout");
        requirePositive(idleTimeout, "backend.idleTimeout");
        if (maxRetries < 0 || maxRetries > 10) {
            throw new IllegalArgumentException("backend.maxRetries must be in [0, 10], was " + maxRetries);
        }
        if (maxConnectionsPerInstance < 1) {
            throw new IllegalArgumentException("backend.maxConnectionsPerInstance must be at least 1, was "
                    + maxConnectionsPerInstance);
        }
    }

    /** @return settings with defaults: connect 5 s, request 10 min, idle 60 s, 2 retries, 64 connections */
    public static OpenAiHttpSettings of(List<URI> baseUrls, String engineModel) {
        return new OpenAiHttpSettings(baseUrls, engineModel, Duration.ofSeconds(5), Duration.ofMinutes(10),
                Duration.ofSeconds(60), DEFAULT_MAX_RETRIES, 64, false);
    }

    public OpenAiHttpSettings withTimeouts(Duration connect, Duration request, Duration idle) {
        return new OpenAiHttpSettings(baseUrls, engineModel, connect, request, idle, maxRetries,
                maxConnectionsPerInstance, sendPriority);
    }

    public OpenAiHttpSettings withMaxRetries(int retries) {
        return new OpenAiHttpSettings(baseUrls, engineModel, connectTimeout, requestTimeout, idleTimeout, retries,
                maxConnectionsPerInstance, sendPriority);
    }

    /** These settings, sending vLLM's {@code priority} field or not ({@code pools[].engine-priority}). */
    public OpenAiHttpSettings withSendPriority(boolean send) {
        return new OpenAiHttpSettings(baseUrls, engineModel, connectTimeout, requestTimeout, idleTimeout, maxRetries,
                maxConnectionsPerInstance, send);
    }

    private static void requirePositive(Duration d, String name) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + " must be a positive duration, was " + d);
        }
    }
}
