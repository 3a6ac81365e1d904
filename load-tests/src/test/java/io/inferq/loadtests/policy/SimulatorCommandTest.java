package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.trace.SyntheticTrace;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sim-policies} runs both of the simulator's modes on any trace, and states loads against both capacities. */
class SimulatorCommandTest {

    static List<TraceRequest> conversations() {
        return SyntheticTrace.generate(new SyntheticTrace.Spec(300, 4, "poisson", 4, 10, 60,
                SyntheticTrace.lengths("1:2000:150"), 0.5, 0.7, 1, 40, 5));
    }

    private static String run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertThat(LoadCommand.run(List.of(args), new PrintStream(buf, true, StandardCharsets.UTF_8))).isZero();
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theCacheRaisesCapacityOnAReusingTraceAndNotWithoutHits() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        List<TraceRequest> trace = conversations();
        assertThat(CacheAwareCapacity.jobsPerSecond(sim, trace, 0)).isEqualTo(sim.capacityJobsPerSecond(trace));
        assertThat(CacheAwareCapacity.jobsPerSecond(sim, trace, 0.5)).isGreaterThan(sim.capacityJobsPerSecond(trace));
        CacheAwareCapacity c = CacheAwareCapacity.measure(sim, trace, "ect");
        assertThat(c.hitRatio()).isPositive();
        assertThat(c.withCacheJobsPerSecond()).isGreaterThan(c.nominalJobsPerSecond());
        assertThat(c.withCacheLoad(2)).isLessThan(2);
        List<TraceRequest> noPrefix = trace.stream().map(t -> new TraceRequest(t.arrivalMs(), t.inputTokens(), t.outputTokens(),
                List.of())).toList();
        CacheAwareCapacity none = CacheAwareCapacity.measure(sim, noPrefix, "ect");
        assertThat(none.withCacheJobsPerSecond()).isEqualTo(none.nominalJobsPerSecond());
    }

    @Test
    void bothModesRunOnAnyTraceFile(@TempDir Path dir) {
        Path jsonl = dir.resolve("conv.jsonl");
        SyntheticTrace.write(conversations(), TraceReader.Format.MOONCAKE, jsonl);
        String prefix = run("sim-policies", "--mode", "prefix", "--trace", jsonl.toString(), "--loads", "1");
        assertThat(prefix).contains("prefix-on", "prefix-off", "on÷off");
        Matcher m = Pattern.compile("CAPACITY conv: nominal ([0-9.]+) jobs/s; with the prefix cache ([0-9.]+) jobs/s").matcher(prefix);
        assertThat(m.find()).as(prefix).isTrue();
        assertThat(Double.parseDouble(m.group(2))).isGreaterThan(Double.parseDouble(m.group(1)));

        Path csv = dir.resolve("conv.csv");
        SyntheticTrace.write(conversations().subList(0, 120), TraceReader.Format.BURSTGPT, csv);
        String policies = run("sim-policies", "--trace", csv.toString(), "--fleet", "r1-mixed", "--mode", "policies");
        assertThat(policies).contains("ratios: ect÷round-robin", "CAPACITY conv:", "no prefix information");
        assertThatThrownBy(() -> run("sim-policies", "--mode", "prefix", "--trace", csv.toString()))
                .hasMessageContaining("needs a trace with hash_ids").hasMessageContaining(csv.toString());
        assertThatThrownBy(() -> run("sim-policies", "--mode", "both")).hasMessageContaining("--mode");
    }

    @Test
    void theLegacyPositionalArgumentsBecomeFlags() {
        assertThat(SimulatorCommand.legacyArgs(new String[] {"/t", "5", "0.2", "--fleet", "r1-mixed"}))
                .containsExactly("--traces", "/t", "--ttft-slo-s", "5", "--tpot-slo-s", "0.2", "--fleet", "r1-mixed");
    }
}
