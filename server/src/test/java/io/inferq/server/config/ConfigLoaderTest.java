package io.inferq.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    @Test
    void defaultsDescribeTheEmbeddedMixedFleet() {
        InferqConfig c = ConfigLoader.load(null, Map.of());
        assertThat(c.http().host()).isEqualTo("127.0.0.1");
        assertThat(c.http().port()).isEqualTo(8080);
        assertThat(c.kafka().embedded()).isTrue();
        assertThat(c.kafka().port()).isEqualTo(9092);
        assertThat(c.hazelcast().port()).isEqualTo(5701);
        assertThat(c.dataDir()).isEqualTo(Path.of("./data"));
        assertThat(c.roles()).containsExactly(InferqConfig.Role.INGRESS, InferqConfig.Role.DISPATCHER, InferqConfig.Role.WORKERS);
        assertThat(c.tenants()).isEmpty();
        assertThat(c.retention().finishedJobs()).isEqualTo(java.time.Duration.ofHours(24));
        assertThat(c.retention().terminalClaims()).isEqualTo(java.time.Duration.ofDays(14));
        assertThat(c.pools()).extracting(InferqConfig.PoolSetting::model)
                .contains("deepseek-r1", "deepseek-v3", "deepseek-v2-lite");
        assertThat(c.pools()).extracting(InferqConfig.PoolSetting::chip).doesNotHaveDuplicates().hasSizeGreaterThanOrEqualTo(3);
    }

    @Test
    void fileThenEnvironmentOverrideTheDefaults(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("inferq.yaml");
        Files.writeString(file, """
                http:
                  port: 9000
                kafka:
                  embedded: false
                  bootstrap-servers: kafka-1:9092
                tenants:
                  - id: acme
                    api-keys: [k1]
                """);
        InferqConfig c = ConfigLoader.load(file, Map.of("INFERQ_HTTP_PORT", "9100", "INFERQ_ROLES", "ingress,dispatcher",
                "INFERQ_DISPATCHER_MAX_QUEUED_JOBS", "500", "PATH", "/usr/bin"));
        assertThat(c.http().port()).isEqualTo(9100);
        assertThat(c.http().host()).isEqualTo("127.0.0.1");
        assertThat(c.kafka().bootstrapServers()).isEqualTo("kafka-1:9092");
        assertThat(c.roles()).containsExactly(InferqConfig.Role.INGRESS, InferqConfig.Role.DISPATCHER);
        assertThat(c.dispatcher().maxQueuedJobs()).isEqualTo(500);
        assertThat(c.tenants()).singleElement().extracting(InferqConfig.TenantSetting::id).isEqualTo("acme");
    }

    @Test
    void badSettingsAreNamed(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_HTTP_PORT", "70000")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("http.port must be 0-65535");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_HTTP_PORTT", "1")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("INFERQ_HTTP_PORTT names no setting");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_KAFKA_EMBEDDED", "false")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.bootstrap-servers must be set when kafka.embedded is false");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_HTTP_PORT", "eighty")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("http.port");
        assertThat(ConfigLoader.load(null, Map.of("INFERQ_RETENTION_FINISHED_JOB_HOURS", "2")).retention().finishedJobs())
                .isEqualTo(java.time.Duration.ofHours(2));
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_RETENTION_TERMINAL_CLAIM_DAYS", "3")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("retention.terminal-claim-days must be 8-365 (longer than the request topics' 7 days), was 3");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_RETENTION_FINISHED_JOB_HOURS", "0")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("retention.finished-job-hours must be 1-720, was 0");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_DISPATCHER_POLICY", "fastest")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dispatcher.policy must be one of");

        Path unknown = dir.resolve("unknown.yaml");
        Files.writeString(unknown, "http:\n  prot: 1\n");
        assertThatThrownBy(() -> ConfigLoader.load(unknown, Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("unknown setting 'http.prot'");

        Path pools = dir.resolve("pools.yaml");
        Files.writeString(pools, """
                pools:
                  - id: tiny
                    chip: ascend-910b
                    chips-per-instance: 1
                    instances: 1
                    model: deepseek-r1
                    backend: simulated
                    max-batch-tokens: 1024
                    max-concurrent-sequences: 4
                    time-scale: 1
                """);
        InferqConfig tiny = ConfigLoader.load(pools, Map.of());
        assertThat(tiny.pools()).singleElement().extracting(InferqConfig.PoolSetting::id).isEqualTo("tiny");

        assertThatThrownBy(() -> ConfigLoader.load(dir.resolve("missing.yaml"), Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("does not exist");
    }

    @Test
    void theSimulatedEngineModelIsContinuousUnlessSetToStatic() {
        assertThat(ConfigLoader.load(null, Map.of()).workers().simulatedEngineModel())
                .isEqualTo(io.inferq.workers.backend.SimulatedBackend.EngineModel.CONTINUOUS);
        assertThat(ConfigLoader.load(null, Map.of("INFERQ_WORKERS_SIMULATED_ENGINE", "static")).workers()
                .simulatedEngineModel()).isEqualTo(io.inferq.workers.backend.SimulatedBackend.EngineModel.STATIC);
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_WORKERS_SIMULATED_ENGINE", "iteration")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("workers.simulated-engine must be one of continuous, static");
    }

    @Test
    void fairSharingSettingsAndTenantWeightsBind(@TempDir Path dir) throws Exception {
        InferqConfig defaults = ConfigLoader.load(null, Map.of());
        assertThat(defaults.dispatcher().fairness()).isEqualTo(new InferqConfig.Fairness(true, 1.0, 2.0, 65_536, true));
        Path file = dir.resolve("inferq.yaml");
        Files.writeString(file, """
                dispatcher:
                  fairness:
                    decode-weight: 3
                    fair-credits: false
                tenants:
                  - id: gold
                    api-keys: [sk-gold]
                    weight: 2
                  - id: plain
                    api-keys: [sk-plain]
                """);
        InferqConfig c = ConfigLoader.load(file, Map.of("INFERQ_DISPATCHER_FAIRNESS_ENABLED", "false"));
        assertThat(c.dispatcher().fairness()).isEqualTo(new InferqConfig.Fairness(false, 1.0, 3.0, 65_536, false));
        assertThat(c.tenants()).extracting(InferqConfig.TenantSetting::weight).containsExactly(2.0, null);
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_DISPATCHER_FAIRNESS_PREFILL_WEIGHT", "0")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dispatcher.fairness.prefill-weight");
        Files.writeString(file, """
                tenants:
                  - id: zero
                    weight: 0
                """);
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("tenants[zero].weight");
    }

    /** The switch the README names for several dispatchers is a declared setting: an unknown one would stop the process. */
    @Test
    void sharedCreditsAreASettingAndTheirEnvironmentVariableSetsThem() {
        assertThat(ConfigLoader.load(null, Map.of()).dispatcher().sharedCredits()).isFalse();
        assertThat(ConfigLoader.load(null, Map.of("INFERQ_DISPATCHER_SHARED_CREDITS", "true")).dispatcher().sharedCredits()).isTrue();
    }

    @Test
    void serviceTimeCalibrationIsOnByDefaultAndCanBeTurnedOff() {
        assertThat(ConfigLoader.load(null, Map.of()).dispatcher().serviceTimeCalibration()).isTrue();
        assertThat(ConfigLoader.load(null, Map.of("INFERQ_DISPATCHER_SERVICE_TIME_CALIBRATION", "false")).dispatcher()
                .serviceTimeCalibration()).isFalse();
    }

    @Test
    void aBoundIsTheDeclaredOneAndTheMessageNamesIt() {
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("INFERQ_KV_CACHE_BLOCK_TOKENS", "4097")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("kv-cache.block-tokens must be 1-4096, was 4097");
        assertThat(InferqConfig.Batches.DEFAULTS).isEqualTo(ConfigLoader.load(null, Map.of()).batches());
    }

    @Test
    void enginePriorityIsAnOpenAiHttpPoolSetting(@TempDir Path dir) throws Exception {
        String pool = """
                pools:
                  - id: vllm
                    chip: h800
                    chips-per-instance: 8
                    instances: 1
                    model: deepseek-r1
                    backend: %s
                    base-urls: [http://127.0.0.1:8000]
                    engine-priority: true
                    max-batch-tokens: 8192
                    max-concurrent-sequences: 64
                    time-scale: 1
                """;
        Path http = dir.resolve("http.yaml");
        Files.writeString(http, pool.formatted("openai-http"));
        assertThat(ConfigLoader.load(http, Map.of()).pools()).singleElement()
                .extracting(InferqConfig.PoolSetting::enginePriority).isEqualTo(true);
        Path simulated = dir.resolve("simulated.yaml");
        Files.writeString(simulated, pool.formatted("simulated"));
        assertThatThrownBy(() -> ConfigLoader.load(simulated, Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("pools[vllm].engine-priority applies to openai-http pools");
    }
}
