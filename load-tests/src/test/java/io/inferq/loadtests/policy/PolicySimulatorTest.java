package io.inferq.loadtests.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PolicySimulatorTest {

    private static List<TraceRequest> synthetic(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<TraceRequest> out = new ArrayList<>();
        long t = 0;
        for (int i = 0; i < n; i++) {
            t += r.nextInt(0, 400);
            int in = r.nextBoolean() ? r.nextInt(100, 2_000) : r.nextInt(4_000, 30_000);
            List<Long> hashes = new ArrayList<>();
            long session = r.nextInt(0, 20);
            for (int b = 0; b < (in + 511) / 512; b++) {
                hashes.add(b < 4 ? session * 1000 + b : 1_000_000L * (i + 1) + b);
            }
            out.add(new TraceRequest(t, in, r.nextInt(10, 600), hashes));
        }
        return out;
    }

    @Test
    void deterministicAndEveryJobIsAccountedFor() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        List<TraceRequest> trace = sim.scaleToLoad(synthetic(400, 1), 2.0);
        for (String policy : PolicySimulator.POLICIES) {
            PolicySimulator.Result a = sim.run(trace, policy, true);
            PolicySimulator.Result b = sim.run(trace, policy, true);
            assertThat(a).as(policy + " deterministic").isEqualTo(b);
            assertThat(a.completed() + a.rejected() + a.expired()).as(policy).isEqualTo(400);
            assertThat(a.good()).isLessThanOrEqualTo(a.completed());
            assertThat(a.utilisation().values()).allSatisfy(u -> assertThat(u).isBetween(0.0, 1.0));
        }
    }

    @Test
    void loadScalingHitsTheRequestedRate() {
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.defaults());
        List<TraceRequest> trace = synthetic(1_000, 2);
        double cap = sim.capacityJobsPerSecond(trace);
        List<TraceRequest> doubled = sim.scaleToLoad(trace, 2.0);
        double rate = doubled.size() / (doubled.get(doubled.size() - 1).arrivalMs() / 1000.0);
        assertThat(rate / cap).isBetween(1.95, 2.05);
    }

    @Test
    void readsBothTraceFormats(@TempDir Path dir) throws IOException {
        Path jsonl = dir.resolve("t.jsonl");
        Files.writeString(jsonl, "{\"timestamp\": 3000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [7, 8]}\n"
                + "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 0, \"hash_ids\": []}\n");
        assertThat(TraceReader.read(jsonl)).containsExactly(new TraceRequest(0, 10, 1, List.of()),
                new TraceRequest(3000, 600, 5, List.of(7L, 8L)));
        Path csv = dir.resolve("t.csv");
        Files.writeString(csv, "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                + "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n");
        assertThat(TraceReader.read(csv)).containsExactly(new TraceRequest(0, 374, 44, List.of()),
                new TraceRequest(4315, 396, 109, List.of()));
    }
}
