package io.inferq.loadtests.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.trace.SyntheticTrace;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code kv-experiment} on a generated trace, on a given Hazelcast port and capacity share. */
class PrefixCacheExperimentTest {

    @Test
    void runsOnAnyTraceWithHashIds(@TempDir Path dir) {
        Path trace = dir.resolve("reuse.jsonl");
        SyntheticTrace.write(SyntheticTrace.generate(new SyntheticTrace.Spec(80, 5, "poisson", 4, 10, 60,
                SyntheticTrace.lengths("1:3000:100"), 0.5, 0.7, 1, 20, 2)), TraceReader.Format.MOONCAKE, trace);
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int port = EmbeddedInferq.freePort();
        int rc = LoadCommand.run(List.of("kv-experiment", "--trace", trace.toString(), "--hazelcast-port", Integer.toString(port),
                "--capacity-share", "0.5", "--local-fraction", "0.2"), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertThat(rc).isZero();
        assertThat(out).contains("trace: 80 requests", "(50% of distinct trace blocks x 8)", "shared / bound = ",
                "integrity mismatches 0");

        Path csv = dir.resolve("azure.csv");
        SyntheticTrace.write(SyntheticTrace.generate(new SyntheticTrace.Spec(5, 5, "poisson", 4, 10, 60,
                SyntheticTrace.lengths("short"), 0.5, 0, 1, 20, 2)), TraceReader.Format.AZURE, csv);
        assertThatThrownBy(() -> LoadCommand.run(List.of("kv-experiment", "--trace", csv.toString()), System.out))
                .hasMessageContaining("has no hash_ids");
    }
}
