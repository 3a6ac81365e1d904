package io.inferq.server.wiring;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.server.TestInferq;
import io.inferq.server.config.InferqConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The embedded Hazelcast member has no authentication, so it must listen where HTTP and Kafka do (loopback by
 * default), never on every interface. Reads the kernel's socket table ({@code /proc/net/tcp}, {@code tcp6}) to see
 * the address the member's listening socket is really bound to.
 */
class HazelcastBindAddressTest {

    @Test
    void embeddedMemberListensOnTheConfiguredLoopbackOnly() throws IOException {
        Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/net/tcp")), "needs Linux /proc/net/tcp to read listening sockets");
        int port = TestInferq.freePort();
        var cfg = new InferqConfig.Hazelcast(true, port, "inferq-bind-test-" + System.nanoTime(), List.of("127.0.0.1"));
        HazelcastInstance hz = HazelcastLauncher.start(cfg, "127.0.0.1", List.of());
        try {
            List<String> listening = listeningAddresses(port);
            assertThat(listening).as("addresses listening on port %d", port).isNotEmpty()
                    .allSatisfy(a -> assertThat(a).as("listening address").isIn("127.0.0.1", "::ffff:127.0.0.1"));
            assertThat(hz.getCluster().getLocalMember().getAddress().getHost()).isEqualTo("127.0.0.1");
        } finally {
            hz.shutdown();
        }
    }

    /** Local addresses of the sockets in state LISTEN on {@code port}, from /proc/net/tcp and tcp6. */
    static List<String> listeningAddresses(int port) throws IOException {
        List<String> out = new ArrayList<>();
        for (String file : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(file);
            if (!Files.isReadable(p)) {
                continue;
            }
            List<String> lines = Files.readAllLines(p); // one read: the table changes all the time
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                String[] local = f[1].split(":");
                if (!"0A".equals(f[3]) || Integer.parseInt(local[1], 16) != port) {
                    continue;
                }
                out.add(decode(local[0]));
            }
        }
        return out;
    }

    /** /proc/net hex address (little-endian 32-bit words) → textual form. */
    private static String decode(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int word = 0; word < b.length / 4; word++) {
            for (int i = 0; i < 4; i++) {
                b[word * 4 + i] = (byte) Integer.parseInt(hex.substring(word * 8 + (3 - i) * 2, word * 8 + (3 - i) * 2 + 2), 16);
            }
        }
        if (b.length == 4) {
            return (b[0] & 0xff) + "." + (b[1] & 0xff) + "." + (b[2] & 0xff) + "." + (b[3] & 0xff);
        }
        boolean mapped = true;
        for (int i = 0; i < 10; i++) {
            mapped &= b[i] == 0;
        }
        mapped &= (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff;
        if (mapped) {
            return "::ffff:" + (b[12] & 0xff) + "." + (b[13] & 0xff) + "." + (b[14] & 0xff) + "." + (b[15] & 0xff);
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 16; i += 2) {
            s.append(i == 0 ? "" : ":").append(String.format(Locale.ROOT, "%x", ((b[i] & 0xff) << 8) | (b[i + 1] & 0xff)));
        }
        return s.toString();
    }
}
