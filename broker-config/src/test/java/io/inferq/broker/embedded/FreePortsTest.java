package io.inferq.broker.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FreePortsTest {

    @Test
    void picksAreDistinctAndBindable() throws IOException {
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            int port = FreePorts.pick();
            assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
            if (i % 50 == 0) {
                try (ServerSocket s = new ServerSocket()) {
                    s.bind(new InetSocketAddress("127.0.0.1", port));
                    assertThat(s.getLocalPort()).isEqualTo(port);
                }
            }
        }
    }
}
