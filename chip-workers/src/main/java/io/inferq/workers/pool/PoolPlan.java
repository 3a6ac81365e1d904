package io.inferq.workers.pool;

import io.inferq.workers.backend.InferenceBackend;
import io.inferq.workers.backend.OpenAiHttpBackend;
import io.inferq.workers.backend.SimulatedBackend;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ChipProfile;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.WeightPrecision;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.Locale;
import java.util.Objects;

/**
 * A pool spec checked against the chip and model catalogues: the model's weights plus the minimum KV
 * budget fit in one instance. Immutable.
 *
 * @param spec     the configuration
 * @param chip     its chip profile
 * @param model    its model profile
 * @param roofline the time and capacity model of one instance
 */
public record PoolPlan(PoolSpec spec, ChipProfile chip, ModelProfile model, RooflineModel roofline) {

    /**
     * Checks {@code spec} against the catalogues with default efficiency factors.
     *
     * @throws InvalidPoolException when the chip or model is unknown, the precision is impossible on the chip,
     *                              or an instance cannot hold the weights plus the minimum KV budget; the
     *                              message says why and how many chips would do
     */
    public static PoolPlan resolve(PoolSpec spec, ChipCatalogue chips, ModelCatalogue models) {
        return resolve(spec, chips, models, RooflineAssumptions.defaults());
    }

    /** As {@link #resolve(PoolSpec, ChipCatalogue, ModelCatalogue)}, with the given MFU/MBU/network figures. */
    public static PoolPlan resolve(PoolSpec spec, ChipCatalogue chips, ModelCatalogue models,
            RooflineAssumptions assumptions) {
        String where = "pool '" + spec.id() + "': ";
        ChipProfile chip;
        ModelProfile model;
        try {
            chip = chips.get(spec.chip());
            model = models.get(spec.model());
        } catch (IllegalArgumentException e) {
            throw new InvalidPoolException(where + e.getMessage(), e);
        }
        WeightPrecision precision = spec.weightPrecision() != null ? spec.weightPrecision()
                : WeightPrecision.servedOn(model, chip);
        if (precision == WeightPrecision.FP8 && !chip.hasFp8()) {
            throw new InvalidPoolException(where + "weightPrecision FP8 is impossible on " + chip.name()
                    + ", which has no FP8; use BF16 or INT8");
        }
        RooflineModel roofline = new RooflineModel(chip, spec.chipsPerInstance(), model, precision,
                assumptions.withMemoryUtilisation(spec.memoryUtilisation()));

        long minKvTokens = spec.effectiveMinKvTokens();
        double minKvBytes = (double) minKvTokens * model.kvBytesPerToken();
        if (roofline.kvBudgetBytes() < minKvBytes) {
            double perChip = chip.memoryBytes() * spec.memoryUtilisation();
            long needed = (long) Math.ceil((roofline.weightBytes() + minKvBytes) / perChip);
            throw new InvalidPoolException(where + spec.chipsPerInstance() + " × " + chip.name() + " = "
                    + gb(chip.memoryBytes() * spec.chipsPerInstance()) + " (" + gb(roofline.usableMemoryBytes())
                    + " usable at memoryUtilisation " + spec.memoryUtilisation() + ") cannot hold " + model.name()
                    + " weights (" + gb(roofline.weightBytes()) + " " + precision + precisionNote(model, chip, spec)
                    + ") plus the minimum KV budget (" + minKvTokens + " tokens × " + model.kvBytesPerToken()
                    + " B = " + gb(minKvBytes) + "); need at least " + needed + " chips per instance");
        }
        return new PoolPlan(spec, chip, model, roofline);
    }

    /** As {@link #createBackend(Vertx, Clock, SimulatedBackend.EngineModel)} with the continuous engine model. */
    public InferenceBackend createBackend(Vertx vertx, Clock clock) {
        return createBackend(vertx, clock, SimulatedBackend.EngineModel.CONTINUOUS);
    }

    /**
     * Creates the pool's backend: a {@link SimulatedBackend} at the pool's time scale with the given engine model, or
     * an {@link OpenAiHttpBackend} with {@code limits.maxConcurrentSequences} credits per instance.
     *
     * @param vertx                used only by the HTTP backend (may be null for a simulated pool)
     * @param simulatedEngineModel how a simulated pool times its batches (ignored by an HTTP pool)
     */
    public InferenceBackend createBackend(Vertx vertx, Clock clock, SimulatedBackend.EngineModel simulatedEngineModel) {
        if (spec.backend() instanceof BackendSpec.OpenAiHttp http) {
            return new OpenAiHttpBackend(Objects.requireNonNull(vertx, "vertx is needed for an openai-http pool"),
                    http.settings(), spec.limits().maxConcurrentSequences(), clock);
        }
        return new SimulatedBackend(roofline, spec.timeScale(), clock, simulatedEngineModel);
    }

    /** @return KV tokens one instance can hold */
    public long kvCapacityTokensPerInstance() {
        return roofline.kvCapacityTokens();
    }

    private static String precisionNote(ModelProfile model, ChipProfile chip, PoolSpec spec) {
        if (spec.weightPrecision() == null && model.weightPrecision() != WeightPrecision.servedOn(model, chip)) {
            return ": " + chip.name() + " has no FP8, so the " + model.weightPrecision()
                    + " checkpoint is held in BF16; set weightPrecision INT8 for an INT8-quantised engine";
        }
        return "";
    }

    private static String gb(double bytes) {
        double value = bytes / 1e9;
        return (value >= 100 ? String.format(Locale.ROOT, "%.0f", value)
                : String.format(Locale.ROOT, "%.1f", value)) + " GB";
    }
}
