package io.inferq.loadtests;

import static io.inferq.loadtests.ReplaySmokeTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each benchmark at a tiny size: it runs to the end, prints its ratios and writes its report. Not timing. */
class BenchmarkSmokeTest {

    @Test
    void overhead(@TempDir Path dir) throws Exception {
        String out = run("bench-overhead", "--records", "200", "--latency-seconds", "1", "--out", dir.toString());
        assertThat(out).contains("RATIO throughput", "RATIO latency p50", "RATIO latency p99", "BOUND throughput from Kafka records alone",
                // the raw probe writes each record once and reads it once: the broker's counters must say so
                "Kafka records per raw record: written 1.00, read 1.00");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        assertThat(s.get("accepted_not_finished").asLong()).isZero();
        // every job is one request record and at least its queued and terminal events and its result
        assertThat(s.get("kafka_records_written_per_job").asDouble()).isGreaterThanOrEqualTo(4.0);
        assertThat(s.get("kafka_records_per_job_by_topic_written_read").get("inferq.requests").asText()).startsWith("1.00 / ");
        assertThat(Files.readString(dir.resolve("report.html"))).contains("class=\"chart cdf-latency\"");
    }

    @Test
    void policies(@TempDir Path dir) throws Exception {
        String out = run("bench-policies", "--loads", "1", "--pipeline-load", "1", "--pipeline-requests", "6", "--probe-every-ms", "200",
                "--policies", "estimated-completion,round-robin", "--time-scale", "100", "--out", dir.toString());
        assertThat(out).contains("CAPACITY sim-wexp conversation 1.0x: 2 × round-robin goodput = ", "RATIO simulator conversation 1.0x", "RATIO sim-wexp conversation 1.0x", "RATIO sim-slice conversation 1.0x", "RATIO pipeline azure-conv",
                "VALIDITY pipeline conversation 1.0x estimated-completion", "simulator-whole", "sim-whole-wexp", "simulator-slice",
                "BOUND conversation 1.0x: bound ", "BOUND azure-conv 1.0x: bound ",
                "ROUTING conversation: the trace's mix (", "ROUTING azure-conv: the trace's mix (", "instance model: continuous",
                "(capacity decomposition: printed for the static instance model only)");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        assertThat(s.get("ratios_ect_over_round_robin")).hasSize(2);
        assertThat(s.has("losses")).as("the decomposition follows static batches").isFalse();
        assertThat(s.get("bounds")).hasSize(2);
        JsonNode pipelineRows = s.get("rows");
        int checked = 0;
        for (JsonNode row : pipelineRows) {
            if (row.get("engine").asText().equals("pipeline")) {
                assertThat(row.get("jobs").asInt()).isEqualTo(6);
                assertThat(row.get("validity").get("valid").isBoolean()).isTrue();
                assertThat(row.get("validity").get("unfinished").asLong()).isZero();
                checked++;
            }
        }
        assertThat(checked).isEqualTo(4);
        assertThat(Files.readString(dir.resolve("report.html"))).contains("Pipeline validity", "pipeline's slice");
    }

    @Test
    void policiesWithTheLegacyStaticInstanceModel(@TempDir Path dir) throws Exception {
        String out = run("bench-policies", "--loads", "1", "--no-pipeline", "--policies", "estimated-completion,round-robin",
                "--instance-model", "static", "--out", dir.toString());
        assertThat(out).contains("instance model: static", "RATIO sim-wexp conversation 1.0x", "BOUND azure-conv 1.0x: bound ",
                "where the fleet's nominal capacity went");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        assertThat(s.get("losses")).hasSize(8); // 2 traces × 2 simulator engines × 2 policies
        assertThat(s.get("bounds")).hasSize(2);
    }

    @Test
    void burst(@TempDir Path dir) throws Exception {
        String out = run("bench-burst", "--max-requests", "40", "--time-scale", "200", "--out", dir.toString());
        assertThat(out).contains("RATIO busy errors");
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        assertThat(s.get("inferq_accepted_not_succeeded").asLong()).isZero();
        assertThat(s.get("inferq_accepted").asLong() + s.get("inferq_busy_429_503").asLong()).isLessThanOrEqualTo(40);
    }

    @Test
    void memory(@TempDir Path dir) throws Exception {
        String out = run("bench-memory", "--jobs", "300", "--server-xmx", "1g", "--drain-timeout-s", "30", "--out", dir.toString());
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        assertThat(s.get("jobs_accepted").asLong()).as(out).isEqualTo(300);
        // every job queued while the workers were away completes once they start
        assertThat(s.get("drained").asLong()).as(out).isEqualTo(300);
        assertThat(s.get("heap_live_after_full_gc_mb").asDouble()).isPositive();
        assertThat(Files.readString(dir.resolve("report.html"))).contains("class=\"chart heap\"", "class=\"chart health\"");
    }

    @Test
    void fairness(@TempDir Path dir) throws Exception {
        String out = run("bench-fairness", "--seconds", "8", "--workloads", "synthetic", "--fleet", "defaults", "--out", dir.toString());
        JsonNode s = new ObjectMapper().readTree(dir.resolve("summary.json").toFile());
        // fair, fair without fair credits, oldest-first and alone for each of the three tenants, with the continuous engine
        // model (the default --instance-model)
        assertThat(s.get("rows").size()).as(out).isEqualTo(12);
        JsonNode goals = s.get("goals").get("synthetic");
        for (String key : List.of("light_of_fair_share", "light_p99_queue_wait_over_alone",
                "light_p99_queue_wait_over_alone_no_fair_credits", "light_p99_engine_wait_over_alone",
                "light_p99_ttft_over_alone", "goodput_fair_over_oldest_first")) {
            assertThat(goals.get(key).asDouble()).as(key + "\n" + out).isPositive();
        }
        assertThat(out).contains("queue wait", "engine admission wait");
        // the rows say which one is the server's default (fair credits on)
        assertThat(out).contains("heavy    fair-server-default ", "heavy    fair-no-fair-credits ");
        assertThat(out).contains("RATIO synthetic total goodput");
        assertThat(Files.readString(dir.resolve("report.html"))).contains("RATIO synthetic light");
    }
}
