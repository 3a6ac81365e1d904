package io.inferq.workers.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import io.inferq.workers.backend.OpenAiHttpSettings;
import io.inferq.workers.backend.SimulatedBackend;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.WeightPrecision;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

class PoolPlanTest {
    final ChipCatalogue chips = ChipCatalogue.builtIn();
    final ModelCatalogue models = ModelCatalogue.builtIn();
    final PoolLimits limits = new PoolLimits(16_384, 64);

    @Test
    void refusesAnInstanceThatCannotHoldTheWeightsAndSaysHowManyChipsWould() {
        PoolSpec spec = PoolSpec.simulated("ascend-r1", "ascend-910b", 4, 2, "deepseek-r1", limits);
        // BF16 on Ascend (no FP8): 1342 GB + 16,384 x 70,272 B = 1.15 GB; 57.6 GB usable per chip -> 24 chips
        assertThatThrownBy(() -> PoolPlan.resolve(spec, chips, models))
                .isInstanceOf(InvalidPoolException.class)
                .hasMessage("pool 'ascend-r1': 4 × Huawei Ascend 910B = 256 GB (230 GB usable at memoryUtilisation"
                        + " 0.9) cannot hold deepseek-r1 weights (1342 GB BF16: Huawei Ascend 910B has no FP8, so"
                        + " the FP8 checkpoint is held in BF16; set weightPrecision INT8 for an INT8-quantised"
                        + " engine) plus the minimum KV budget (16384 tokens × 70272 B = 1.2 GB); need at least 24"
                        + " chips per instance");
    }

    @Test
    void int8WeightsHalveTheChipsNeeded() {
        PoolSpec spec = PoolSpec.simulated("ascend-r1", "ascend-910b", 4, 1, "deepseek-r1", limits)
                .withWeightPrecision(WeightPrecision.INT8);
        assertThatThrownBy(() -> PoolPlan.resolve(spec, chips, models)).hasMessageEndingWith("need at least 12 chips per instance");
        PoolSpec sixteen = PoolSpec.simulated("ascend-r1", "ascend-910b", 16, 1, "deepseek-r1", limits)
                .withWeightPrecision(WeightPrecision.INT8);
        // 64e9 x 16 x 0.9 = 921.6e9 - 671e9 = 250.6e9 / 70,272 B = 3,566,142.99 -> 3,566,142 tokens
        assertThat(PoolPlan.resolve(sixteen, chips, models).kvCapacityTokensPerInstance()).isEqualTo(3_566_142L);
    }

    @Test
    void acceptsAPoolThatFitsAndReportsItsKvCapacity() {
        PoolPlan plan = PoolPlan.resolve(
                PoolSpec.simulated("h800-r1", "h800", 16, 2, "deepseek-r1", limits).withTimeScale(60), chips, models);
        assertThat(plan.kvCapacityTokensPerInstance()).isEqualTo(6_844_831L);
        assertThat(plan.createBackend(null, Clock.systemUTC())).isInstanceOfSatisfying(SimulatedBackend.class, backend -> {
            assertThat(backend.timeScale()).isEqualTo(60);
            assertThat(backend.engineModel()).isEqualTo(SimulatedBackend.EngineModel.CONTINUOUS);
        });
        assertThat(plan.createBackend(null, Clock.systemUTC(), SimulatedBackend.EngineModel.STATIC))
                .isInstanceOfSatisfying(SimulatedBackend.class,
                        backend -> assertThat(backend.engineModel()).isEqualTo(SimulatedBackend.EngineModel.STATIC));
    }

    @Test
    void aLargerMinimumKvBudgetCanRefuseAPoolThatHoldsTheWeights() {
        PoolSpec spec = PoolSpec.simulated("lite", "mtt-s4000", 1, 1, "deepseek-v2-lite", limits);
        assertThat(PoolPlan.resolve(spec, chips, models).kvCapacityTokensPerInstance()).isPositive();
        // 48 GB x 0.9 = 43.2 GB - 31.4 GB weights = 11.8 GB = ~379k tokens at 31,104 B
        assertThatThrownBy(() -> PoolPlan.resolve(spec.withMinKvTokens(1_000_000), chips, models))
                .hasMessageContaining("minimum KV budget (1000000 tokens")
                .hasMessageEndingWith("need at least 2 chips per instance");
    }

    @Test
    void refusesFp8OnAChipWithoutIt() {
        PoolSpec spec = PoolSpec.simulated("a800-r1", "a800", 32, 1, "deepseek-r1", limits)
                .withWeightPrecision(WeightPrecision.FP8);
        assertThatThrownBy(() -> PoolPlan.resolve(spec, chips, models))
                .hasMessage("pool 'a800-r1': weightPrecision FP8 is impossible on NVIDIA A800 SXM, which has no FP8;"
                        + " use BF16 or INT8");
    }

    @Test
    void unknownChipOrModelNamesThePool() {
        assertThatThrownBy(() -> PoolPlan.resolve(PoolSpec.simulated("p", "h100", 1, 1, "qwen2-7b", limits), chips,
                models)).hasMessageStartingWith("pool 'p': unknown chip 'h100'; known chips: h800");
        assertThatThrownBy(() -> PoolPlan.resolve(PoolSpec.simulated("p", "h800", 1, 1, "llama", limits), chips,
                models)).hasMessageStartingWith("pool 'p': unknown model 'llama'");
    }

    @Test
    void specChecksEachSettingByName() {
        assertThatThrownBy(() -> PoolSpec.simulated("bad id!", "h800", 1, 1, "qwen2-7b", limits))
                .hasMessageContaining("pool id");
        assertThatThrownBy(() -> PoolSpec.simulated("p", "h800", 0, 1, "qwen2-7b", limits))
                .hasMessage("pool 'p': chipsPerInstance must be at least 1, was 0");
        assertThatThrownBy(() -> PoolSpec.simulated("p", "h800", 1, 1, "qwen2-7b", limits).withTimeScale(0))
                .hasMessage("pool 'p': timeScale must be positive and finite, was 0.0");
        assertThatThrownBy(() -> new PoolLimits(0, 1)).hasMessageContaining("maxBatchTokens");
        OpenAiHttpSettings http = OpenAiHttpSettings.of(List.of(URI.create("http://a:8000")), "m");
        assertThatThrownBy(() -> PoolSpec.simulated("p", "h800", 1, 2, "qwen2-7b", limits)
                .withBackend(new BackendSpec.OpenAiHttp(http)))
                .hasMessage("pool 'p': backend.baseUrls has 1 URLs but instances is 2: give one base URL per instance");
        assertThatThrownBy(() -> OpenAiHttpSettings.of(List.of(URI.create("a:8000")), "m"))
                .hasMessageContaining("backend.baseUrls");
    }
}
