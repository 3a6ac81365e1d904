package io.inferq.loadtests.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.loadtests.LoadCommand;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short chaos run of the suite: the real server as a child process under HTTP (with webhooks) and Kafka load,
 * one kill -9 of the whole process (restarted on the same data directory) and one webhook receiver fault; the checker
 * must find every accepted job in exactly one terminal state, one committed result per Kafka request and every webhook
 * delivered, with one {@code webhook-id} per job.
 *
 * <p>Bounded for a slow 2-core machine: the server gets 180 s to start, and after the load stops the drain ends as soon
 * as everything is accounted for, after 120 s at most (about 1–2 min in all on an idle machine). A restart that leaves
 * a transaction hanging (see {@code HangingTransactions} in broker-config) used to stall it for good.
 */
class ChaosSmokeTest {

    @Test
    void aKillMinus9AndAFailingReceiverLoseAndDuplicateNothing() throws Exception {
        Path out = Files.createTempDirectory("inferq-chaos-smoke");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = LoadCommand.run(List.of("chaos", "--faults", "kill,webhook-fail", "--kills", "1", "--phase-s", "3",
                "--fault-s", "2", "--http-rate", "3", "--kafka-rate", "3", "--drain-s", "120", "--heap", "512m",
                "--out", out.toString()), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String printed = buf.toString(StandardCharsets.UTF_8);
        System.out.print(printed); // the table, in the build log
        assertThat(printed).as(printed).contains("CHAOS PASSED").contains("kill -9 #1").contains("webhook-fail");
        assertThat(rc).isZero();
        String table = Files.readString(out.resolve("chaos-table.txt"));
        assertThat(table.lines().filter(l -> l.startsWith("kill -9 #1")).findFirst().orElseThrow().trim().split("\\s+")[3])
                .as("jobs accepted in the kill phase").isNotEqualTo("0");
    }
}
