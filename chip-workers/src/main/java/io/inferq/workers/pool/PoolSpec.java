package io.inferq.workers.pool;

import io.inferq.workers.chips.WeightPrecision;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A pool as configured: {@code instances} inference instances, each of {@code chipsPerInstance} chips of
 * one kind holding one model, run by one backend. Checks each setting on its own here; whether the model
 * fits the chips is checked against the catalogues by {@link PoolPlan#resolve}.
 *
 * @param id                id, used in the topic name {@code inferq.pool.<id>}: letters, digits, {@code . _ -}
 * @param chip              chip catalogue id, e.g. {@code ascend-910b}
 * @param chipsPerInstance  chips holding one copy of the model, at least 1
 * @param instances         copies of the model, at least 1
 * @param model             served model name, e.g. {@code deepseek-r1}
 * @param backend           how batches are run; for {@code openai-http} one base URL per instance
 * @param limits            batch limits of one instance
 * @param timeScale         for the simulated backend: how many times faster than real time it runs (1 = real
 *                          time); positive
 * @param memoryUtilisation share of chip memory usable for weights and KV cache, in (0, 1] (vLLM's
 *                          {@code gpu_memory_utilization}; default 0.9)
 * @param weightPrecision   precision the weights are held in, or null for the default of the chip
 *                          ({@link WeightPrecision#servedOn})
 * @param minKvTokens       KV cache an instance must hold beyond its weights, in tokens; 0 means
 *                          {@code limits.maxBatchTokens} (a full batch must fit)
 */
public record PoolSpec(String id, String chip, int chipsPerInstance, int instances, String model,
        BackendSpec backend, PoolLimits limits, double timeScale, double memoryUtilisation,
        WeightPrecision weightPrecision, long minKvTokens) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,200}");

    public PoolSpec {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("pool id must be 1-200 letters, digits, '.', '_' or '-', was '"
                    + id + "'");
        }
        String where = "pool '" + id + "': ";
        if (chip == null || chip.isBlank()) {
            throw new IllegalArgumentException(where + "chip must be set");
        }
        if (chipsPerInstance < 1) {
            throw new IllegalArgumentException(where + "chipsPerInstance must be at least 1, was "
                    + chipsPerInstance);
        }
        if (instances < 1) {
            throw new IllegalArgumentException(where + "instances must be at least 1, was " + instances);
        }
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException(where + "model must be set");
        }
        Objects.requireNonNull(backend, () -> where + "backend must be set");
        Objects.requireNonNull(limits, () -> where + "limits must be set");
        if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
            throw new IllegalArgumentException(where + "timeScale must be positive and finite, was " + timeScale);
        }
        if (!(memoryUtilisation > 0 && memoryUtilisation <= 1)) {
            throw new IllegalArgumentException(where + "memoryUtilisation must be in (0, 1], was "
                    + memoryUtilisation);
        }
        if (minKvTokens < 0) {
            throw new IllegalArgumentException(where + "minKvTokens must not be negative, was " + minKvTokens);
        }
        if (backend instanceof BackendSpec.OpenAiHttp http && http.settings().baseUrls().size() != instances) {
            throw new IllegalArgumentException(where + "backend.baseUrls has " + http.settings().baseUrls().size()
                    + " URLs but instances is " + instances + ": give one base URL per instance");
        }
    }

    /** @return a simulated pool at real time, with default memory utilisation and precision */
    public static PoolSpec simulated(String id, String chip, int chipsPerInstance, int instances, String model,
            PoolLimits limits) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, new BackendSpec.Simulated(), limits, 1.0,
                0.9, null, 0);
    }

    public PoolSpec withTimeScale(double scale) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, backend, limits, scale,
                memoryUtilisation, weightPrecision, minKvTokens);
    }

    public PoolSpec withBackend(BackendSpec spec) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, spec, limits, timeScale,
                memoryUtilisation, weightPrecision, minKvTokens);
    }

    public PoolSpec withWeightPrecision(WeightPrecision precision) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, backend, limits, timeScale,
                memoryUtilisation, precision, minKvTokens);
    }

    public PoolSpec withMinKvTokens(long tokens) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, backend, limits, timeScale,
                memoryUtilisation, weightPrecision, tokens);
    }

    public PoolSpec withMemoryUtilisation(double share) {
        return new PoolSpec(id, chip, chipsPerInstance, instances, model, backend, limits, timeScale, share,
                weightPrecision, minKvTokens);
    }

    /** @return the KV tokens an instance must hold beyond its weights */
    public long effectiveMinKvTokens() {
        return minKvTokens > 0 ? minKvTokens : limits.maxBatchTokens();
    }
}
