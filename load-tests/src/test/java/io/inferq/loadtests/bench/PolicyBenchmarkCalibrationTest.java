package io.inferq.loadtests.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PolicyBenchmarkCalibrationTest {

    @Test
    void learnedScalesAreReadFromTheServersMetricsWithoutTheProbePool() {
        String metrics = """
                # HELP inferq_dispatcher_pool_service_time_scale learned prefill time ÷ the configured (roofline) one
                # TYPE inferq_dispatcher_pool_service_time_scale gauge
                inferq_dispatcher_pool_service_time_scale{phase="prefill",pool="h800-sim"} 0.33
                inferq_dispatcher_pool_service_time_scale{phase="decode",pool="h800-sim"} 0.98
                inferq_dispatcher_pool_service_time_scale{phase="overall",pool="h800-sim"} 0.61
                inferq_dispatcher_pool_service_time_scale{phase="first_token",pool="h800-sim"} 1.25
                inferq_dispatcher_pool_service_time_scale{phase="prefill",pool="probe-overhead"} 1.0
                inferq_dispatcher_pool_service_time_scale{phase="decode",pool="mtt-s4000-sim"} 2.5
                inferq_dispatcher_pool_utilisation{pool="h800-sim"} 0.5
                """;
        Map<String, double[]> scales = PolicyBenchmark.calibrationFromMetrics(metrics);

        assertThat(scales).containsOnlyKeys("h800-sim", "mtt-s4000-sim");
        assertThat(scales.get("h800-sim")).as("prefill, decode and first token; the overall scale is not one of them")
                .containsExactly(0.33, 0.98, 1.25);
        assertThat(scales.get("mtt-s4000-sim")[0]).isNaN();
        assertThat(scales.get("mtt-s4000-sim")[1]).isEqualTo(2.5);
        assertThat(scales.get("mtt-s4000-sim")[2]).isNaN();
    }

    @Test
    void theNoteNamesEachPoolsPrefillDecodeAndFirstTokenScale() {
        Map<String, double[]> scales = new LinkedHashMap<>();
        scales.put("h800", new double[] {0.1, 1.02, 1.3});
        scales.put("mtt-s4000", new double[] {0.94, 1.0, 0.875});

        assertThat(PolicyBenchmark.calibrationNote(scales))
                .isEqualTo("learned p/d/ft: h800=0.10/1.02/1.30 mtt-s4000=0.94/1.00/0.88");
        assertThat(PolicyBenchmark.calibrationNote(Map.of())).isEqualTo("learned p/d/ft n/a");
    }
}
