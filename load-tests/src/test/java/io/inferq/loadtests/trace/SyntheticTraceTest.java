package io.inferq.loadtests.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.inferq.loadtests.LoadCommand;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticTraceTest {

    static SyntheticTrace.Spec spec(String arrivals, String lengths, double reuse, long seed) {
        return new SyntheticTrace.Spec(3000, 10, arrivals, 5, 10, 60, SyntheticTrace.lengths(lengths), 0.8, reuse, 1, 100, seed);
    }

    private static double rate(List<TraceRequest> t, long fromMs, long toMs) {
        return t.stream().filter(r -> r.arrivalMs() >= fromMs && r.arrivalMs() < toMs).count() / ((toMs - fromMs) / 1000.0);
    }

    @Test
    void deterministicWithTheMeanRate() {
        List<TraceRequest> a = SyntheticTrace.generate(spec("poisson", "mixed", 0.5, 3));
        assertThat(a).isEqualTo(SyntheticTrace.generate(spec("poisson", "mixed", 0.5, 3)));
        assertThat(a).isNotEqualTo(SyntheticTrace.generate(spec("poisson", "mixed", 0.5, 4)));
        double span = a.get(a.size() - 1).arrivalMs() / 1000.0;
        assertThat(a.size() / span).isBetween(9.0, 11.0);
        for (int i = 1; i < a.size(); i++) {
            assertThat(a.get(i).arrivalMs()).isGreaterThanOrEqualTo(a.get(i - 1).arrivalMs());
        }
    }

    @Test
    void burstsAreDenserThanTheGapsBetweenThem() {
        List<TraceRequest> t = SyntheticTrace.generate(spec("bursts", "short", 0, 1));
        double inBursts = 0;
        double between = 0;
        for (int p = 0; p < 4; p++) {
            inBursts += rate(t, p * 60_000L, p * 60_000L + 10_000);
            between += rate(t, p * 60_000L + 10_000, (p + 1) * 60_000L);
        }
        assertThat(inBursts / between).isGreaterThan(5);
    }

    @Test
    void lengthMixesAndReuseShapeTheTrace() {
        double shortMean = SyntheticTrace.generate(spec("uniform", "short", 0, 1)).stream().mapToInt(TraceRequest::inputTokens).average().orElseThrow();
        double longMean = SyntheticTrace.generate(spec("uniform", "long", 0, 1)).stream().mapToInt(TraceRequest::inputTokens).average().orElseThrow();
        assertThat(longMean / shortMean).isGreaterThan(10);
        List<TraceRequest> noReuse = SyntheticTrace.generate(spec("poisson", "long", 0, 1));
        List<TraceRequest> reuse = SyntheticTrace.generate(spec("poisson", "long", 0.8, 1));
        assertThat(SyntheticTrace.boundHitRatio(reuse)).isGreaterThan(0.5);
        assertThat(SyntheticTrace.boundHitRatio(noReuse)).isLessThan(0.2);
        // every request has one id per (possibly partial) 512-token block
        reuse.forEach(r -> assertThat(r.blockHashes()).hasSize((r.inputTokens() + 511) / 512));
        assertThatThrownBy(() -> SyntheticTrace.lengths("2:400")).hasMessageContaining("--lengths");
        assertThatThrownBy(() -> spec("waves", "short", 0, 1)).hasMessageContaining("--arrivals");
    }

    @Test
    void everyFormatIsWrittenAndReadBack(@TempDir Path dir) {
        List<TraceRequest> t = SyntheticTrace.generate(new SyntheticTrace.Spec(50, 20, "poisson", 4, 10, 60,
                SyntheticTrace.lengths("1:300:50,1:3000:200"), 0.5, 0.6, 1, 10, 9));
        for (TraceReader.Format f : List.of(TraceReader.Format.MOONCAKE, TraceReader.Format.AZURE, TraceReader.Format.BURSTGPT)) {
            Path p = dir.resolve("t-" + f.flagName());
            SyntheticTrace.write(t, f, p);
            assertThat(TraceReader.detect(p)).isEqualTo(f);
            List<TraceRequest> back = TraceReader.read(p);
            assertThat(back).hasSameSizeAs(t);
            for (int i = 0; i < t.size(); i++) {
                assertThat(back.get(i).inputTokens()).isEqualTo(t.get(i).inputTokens());
                assertThat(back.get(i).outputTokens()).isEqualTo(t.get(i).outputTokens());
                assertThat(back.get(i).arrivalMs()).isEqualTo(t.get(i).arrivalMs() - t.get(0).arrivalMs());
                assertThat(back.get(i).blockHashes()).isEqualTo(f == TraceReader.Format.MOONCAKE ? t.get(i).blockHashes() : List.of());
            }
        }
    }

    @Test
    void theCommandWritesAFile(@TempDir Path dir) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Path p = dir.resolve("x.csv");
        int rc = LoadCommand.run(List.of("gen-trace", "--file", p.toString(), "--format", "burstgpt", "--requests", "40",
                "--arrivals", "ramp", "--lengths", "bimodal"), new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertThat(rc).isZero();
        assertThat(buf.toString(StandardCharsets.UTF_8)).contains("40 requests");
        assertThat(TraceReader.read(p)).hasSize(40);
    }
}
