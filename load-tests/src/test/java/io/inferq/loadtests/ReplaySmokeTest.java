package io.inferq.loadtests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.replay.PromptText;
import io.inferq.loadtests.replay.ReplayPlan;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The machinery of replay and the benchmarks, at a few seconds each: counts add up, reports are written. */
class ReplaySmokeTest {

    static String run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = LoadCommand.run(List.of(args), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertThat(rc).as(out).isZero();
        return out;
    }

    @Test
    void equalBlockIdsGiveEqualTextAndLengthsMatch() {
        String a = PromptText.build(1200, List.of(1L, 2L, 3L), 0, 7);
        String b = PromptText.build(1100, List.of(1L, 2L, 9L), 0, 8);
        int words = 0;
        for (int i = 0; i < a.length(); i++) {
            words += a.charAt(i) == ' ' ? 1 : 0;
        }
        assertThat(words).isEqualTo(1200);
        int common = 0;
        while (common < b.length() && a.charAt(common) == b.charAt(common)) {
            common++;
        }
        String shared = a.substring(0, common);
        assertThat(shared.chars().filter(c -> c == ' ').count()).isBetween(1024L, 1030L); // two blocks of 512
        assertThat(PromptText.build(600, List.of(1L), 1, 7)).doesNotStartWith(a.substring(0, 200)); // another copy's salt
    }

    @Test
    void loadOverlayMultipliesTheRequests() {
        List<TraceRequest> t = List.of(new TraceRequest(0, 10, 1, List.of()), new TraceRequest(1000, 10, 1, List.of()),
                new TraceRequest(2000, 10, 1, List.of()), new TraceRequest(3000, 10, 1, List.of()));
        assertThat(ReplayPlan.of(t, 0, Long.MAX_VALUE, 3.0, 100, 1).items()).hasSize(12);
        assertThat(ReplayPlan.of(t, 1000, 2000, 1.0, 100, 1).items()).hasSize(2);
        assertThat(ReplayPlan.of(t, 0, Long.MAX_VALUE, 2.0, 5, 1).items()).hasSize(5);
    }

    @Test
    void replaysBothFormatsInProcessAndWritesTheReport(@TempDir Path dir) throws Exception {
        Path jsonl = dir.resolve("t.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            sb.append("{\"timestamp\": ").append(i * 200).append(", \"input_length\": 700, \"output_length\": 8, \"hash_ids\": [1, ")
                    .append(100 + i).append("]}\n");
        }
        Files.writeString(jsonl, sb.toString());
        Path csv = dir.resolve("t.csv");
        Files.writeString(csv, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,300,5\n"
                + "2023-11-16 18:15:46.9951690,200,4\n2023-11-16 18:15:47.1,100,3\n");
        String out = run("replay", "--trace", jsonl.toString(), "--speedup", "4", "--time-scale", "200", "--load", "1.5",
                "--model", "deepseek-v2-lite", "--progress-s", "1", "--out", dir.resolve("r1").toString());
        assertThat(out).contains("report:");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("r1/summary.json").toFile());
        assertThat(s.get("requests_sent").asInt()).isEqualTo(18);
        assertThat(s.get("accepted").asLong() + s.get("rejected").asLong()).isEqualTo(18);
        assertThat(s.get("finished_by_status").path("succeeded").asLong()).isEqualTo(s.get("accepted").asLong());
        String html = Files.readString(dir.resolve("r1/report.html"));
        assertThat(html).contains("class=\"chart cdf-ttft\"", "class=\"chart cdf-e2e\"", "class=\"chart queue-depth\"",
                "class=\"chart pool-utilisation\"", "class=\"chart cache-hit\"", "class=\"chart rejections\"")
                // opens with no network: nothing is loaded from anywhere (an SVG namespace URI is not a fetch)
                .doesNotContainPattern("(src|href)\\s*=\\s*[\"']?https?://").doesNotContainPattern("url\\(\\s*[\"']?https?://")
                .doesNotContain("<script", "@import");
        run("replay", "--trace", csv.toString(), "--via", "kafka", "--speedup", "2", "--time-scale", "200", "--model", "deepseek-v2-lite",
                "--out", dir.resolve("r2").toString());
        JsonNode s2 = new ObjectMapper().readTree(dir.resolve("r2/summary.json").toFile());
        assertThat(s2.get("finished_by_status").path("succeeded").asLong()).isEqualTo(3);
    }

    @Test
    void promptsAboveEveryPoolsBudgetAreAnnouncedAndRefusedWithTheirReason(@TempDir Path dir) throws Exception {
        // deepseek-v2-lite on the embedded default fleet: metax-c500-lite takes 16,384 prompt tokens, mtt-s4000-lite 8,192
        Path jsonl = dir.resolve("long.jsonl");
        Files.writeString(jsonl, "{\"timestamp\": 0, \"input_length\": 300, \"output_length\": 4, \"hash_ids\": []}\n"
                + "{\"timestamp\": 100, \"input_length\": 9000, \"output_length\": 4, \"hash_ids\": []}\n"
                + "{\"timestamp\": 200, \"input_length\": 17000, \"output_length\": 4, \"hash_ids\": []}\n");
        String out = run("replay", "--trace", jsonl.toString(), "--speedup", "4", "--time-scale", "200", "--model", "deepseek-v2-lite",
                "--out", dir.resolve("r").toString());
        assertThat(out).contains("WARNING: 1 of 3 requests have prompts above the largest pool budget 16384 for model deepseek-v2-lite",
                "note: 1 requests have prompts above the smallest pool budget (8192 tokens)", "prompt_too_long=1");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("r/summary.json").toFile());
        assertThat(s.get("over_budget_requests").asInt()).isEqualTo(1);
        assertThat(s.get("over_budget_action").asText()).isEqualTo("send");
        assertThat(s.get("prompt_budget").get("max_prompt_tokens").asInt()).isEqualTo(16384);
        // the ingress refuses it at submit (400 prompt_too_long), so it is never accepted and then failed
        assertThat(s.get("rejections_by_code").get("prompt_too_long").asInt()).isEqualTo(1);
        assertThat(s.get("failures_by_error_code").size()).isZero();
        assertThat(s.get("finished_by_status").get("succeeded").asInt()).isEqualTo(2);
    }
}
