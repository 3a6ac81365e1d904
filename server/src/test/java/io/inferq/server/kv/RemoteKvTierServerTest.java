package io.inferq.server.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.exceptions.JedisDataException;

/** An inferq process with {@code kv-cache.resp-port} serves the remote KV tier; tenants' API keys are AUTH keys. */
class RemoteKvTierServerTest {

    private static ObjectNode tenant(ObjectNode t, String id, String key, String salt) {
        t.put("id", id).putArray("api-keys").add(key);
        t.putArray("webhook-secrets").add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        if (salt != null) {
            t.put("cache-salt", salt);
        }
        return t;
    }

    @Test
    void servesTheRedisProtocolOnItsOwnPortPerTenant() {
        try (InferqServer server = TestInferq.start(tree -> {
            ((ObjectNode) tree.get("kv-cache")).put("resp-port", 0);
            var tenants = tree.putArray("tenants");
            tenant(tenants.addObject(), "acme", "acme-key", "acme-salt");
            tenant(tenants.addObject(), "globex", "globex-key", null);
        })) {
            int port = server.remoteKvPort();
            assertThat(port).isPositive();
            byte[] value = new byte[3 << 20];
            new Random(1).nextBytes(value);
            byte[] key = "chunk-0kv_bytes".getBytes(StandardCharsets.UTF_8);
            try (Jedis acme = new Jedis("127.0.0.1", port, 60_000); Jedis globex = new Jedis("127.0.0.1", port, 60_000);
                 Jedis nobody = new Jedis("127.0.0.1", port, 60_000)) {
                assertThatThrownBy(() -> nobody.get(key)).isInstanceOf(JedisDataException.class).hasMessageContaining("NOAUTH");
                acme.auth("acme-key");
                globex.auth("globex-key");
                acme.set(key, value);
                assertThat(acme.get(key)).isEqualTo(value);
                assertThat(globex.exists(key)).isFalse();
            }
        }
    }

    @Test
    void offByDefault() {
        assertThat(TestInferq.shared().remoteKvPort()).isEqualTo(-1);
    }
}
