package io.inferq.loadtests;

import static io.inferq.loadtests.ReplaySmokeTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code bench-kv-routing} on the first requests of the conversation trace: it runs to the end and prints its ratios. */
class KvRoutingSmokeTest {

    @Test
    void kvRouting() {
        String out = run("bench-kv-routing", "--max-requests", "400", "--loads", "1,2", "--cache-blocks", "400");
        assertThat(out).contains("RATIO 1.0x precise÷approximate: hit ", "RATIO 1.0x precise÷blind: hit ",
                "RATIO 2.0x precise÷approximate: hit ", "RATIO 2.0x precise÷blind: hit ");
        for (String mode : new String[] {"precise", "approximate", "blind"}) {
            assertThat(out).containsPattern("1\\.0x +" + mode + " ").containsPattern("2\\.0x +" + mode + " ");
        }
        // engines published events in precise mode only
        assertThat(out).containsPattern("1\\.0x +precise .* [1-9][0-9]*\\n").containsPattern("1\\.0x +blind .* 0\\n");
    }
}
