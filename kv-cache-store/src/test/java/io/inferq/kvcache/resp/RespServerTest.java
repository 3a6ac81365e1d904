package io.inferq.kvcache.resp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.kvcache.TestHazelcast;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.SetParams;

/** The Redis-protocol tier through a real Redis client (Jedis), over the shared Hazelcast test member. */
class RespServerTest {

    static final int MB18 = 18 * 1024 * 1024;
    private static Vertx vertx;
    private static final FakeClock CLOCK = new FakeClock();
    private static final List<AutoCloseable> CLOSE = new ArrayList<>();

    /** A clock the test moves by hand. */
    static final class FakeClock extends Clock {
        final AtomicLong millis = new AtomicLong(1_700_000_000_000L);

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis.get());
        }
    }

    @BeforeAll
    static void startVertx() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : CLOSE) {
            c.close();
        }
        CLOSE.clear();
        vertx.close().toCompletionStage().toCompletableFuture().join();
    }

    static RespServer server(HazelcastInstance hz, String map, int backups, long localBytes, RespSettings settings) {
        RemoteValueStore store = RemoteValueStore.create(hz, map, 256 * 1024, 256, backups, localBytes, CLOCK);
        RespServer s = new RespServer(vertx, store, settings);
        s.start().toCompletionStage().toCompletableFuture().join();
        CLOSE.add(s);
        return s;
    }

    static RespServer openServer() {
        return server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 64L << 20, RespSettings.loopback(0));
    }

    /** A client with a generous timeout: these machines are slow and shared. */
    static Jedis jedis(int port) {
        return new Jedis("127.0.0.1", port, 60_000);
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void eighteenMegabyteValuesRoundTripAndExistsDelMgetCountKeys() {
        RespServer s = openServer();
        try (Jedis j = jedis(s.port())) {
            byte[] kv = random(MB18, 1);
            byte[] meta = random(300, 2);
            assertThat(j.set(b("chunk1kv_bytes"), kv)).isEqualTo("OK");
            assertThat(j.set(b("chunk1metadata"), meta)).isEqualTo("OK");
            assertThat(j.exists(b("chunk1metadata"), b("chunk1kv_bytes"), b("nope"), b("chunk1metadata"))).isEqualTo(3);
            assertThat(j.get(b("chunk1kv_bytes"))).isEqualTo(kv);
            assertThat(j.get(b("chunk1metadata"))).isEqualTo(meta);
            List<byte[]> both = j.mget(b("chunk1metadata"), b("missing"), b("chunk1kv_bytes"));
            assertThat(both.get(0)).isEqualTo(meta);
            assertThat(both.get(1)).isNull();
            assertThat(both.get(2)).isEqualTo(kv);
            byte[] kv2 = random(MB18 - 7, 3);
            j.set(b("chunk1kv_bytes"), kv2);   // overwrite: the new bytes, never a mix
            assertThat(j.get(b("chunk1kv_bytes"))).isEqualTo(kv2);
            assertThat(j.del(b("chunk1metadata"), b("nope"))).isEqualTo(1);
            assertThat(j.exists(b("chunk1metadata"))).isFalse();
            assertThat(j.get(b("chunk1metadata"))).isNull();
            assertThat(j.ping()).isEqualTo("PONG");
            assertThat(j.select(0)).isEqualTo("OK");
            assertThatThrownBy(() -> j.select(1)).isInstanceOf(JedisDataException.class);
            assertThat(j.info()).contains("redis_version");
            assertThatThrownBy(() -> j.hset(b("h"), b("f"), b("v")))
                    .isInstanceOf(JedisDataException.class).hasMessageContaining("unknown command");
            assertThat(j.ping()).isEqualTo("PONG");
        }
    }

    @Test
    void resp3HandshakeAndNulls() {
        RespServer s = openServer();
        try (Jedis j = new Jedis("127.0.0.1", s.port(), DefaultJedisClientConfig.builder()
                .protocol(RedisProtocol.RESP3).clientName("lmcache-test").build())) {
            assertThat(j.get(b("absent"))).isNull();
            j.set(b("k"), b("v"));
            assertThat(j.get(b("k"))).isEqualTo(b("v"));
            assertThat(j.mget(b("k"), b("absent"))).containsExactly(b("v"), null);
            assertThat(j.clientGetname()).isEqualTo("lmcache-test");
        }
    }

    @Test
    void expiryFollowsTheClock() {
        RespServer s = openServer();
        try (Jedis j = jedis(s.port())) {
            byte[] v = random(1 << 20, 4);
            j.set(b("ttl-px"), v, SetParams.setParams().px(1500));
            j.set(b("ttl-ex"), b("small"), SetParams.setParams().ex(2));
            j.set(b("forever"), b("x"));
            assertThat(j.get(b("ttl-px"))).isEqualTo(v);
            CLOCK.millis.addAndGet(1500);
            assertThat(j.get(b("ttl-px"))).isNull();
            assertThat(j.exists(b("ttl-px"), b("ttl-ex"), b("forever"))).isEqualTo(2);
            CLOCK.millis.addAndGet(500);
            assertThat(j.get(b("ttl-ex"))).isNull();
            assertThat(j.get(b("forever"))).isEqualTo(b("x"));
            assertThatThrownBy(() -> j.set(b("bad"), b("x"), SetParams.setParams().ex(0)))
                    .isInstanceOf(JedisDataException.class).hasMessageContaining("invalid expire time");
        }
    }

    @Test
    void tenantsAreIsolatedByTheirKeys() {
        RespServer s = server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 64L << 20,
                RespSettings.loopback(0).withTenants(Map.of("key-a", "salt:a", "key-b", "salt:b", "key-a2", "salt:a")));
        try (Jedis a = jedis(s.port()); Jedis b = jedis(s.port());
             Jedis a2 = jedis(s.port()); Jedis anon = jedis(s.port())) {
            assertThatThrownBy(() -> anon.get(b("k"))).isInstanceOf(JedisDataException.class).hasMessageContaining("NOAUTH");
            assertThatThrownBy(() -> anon.auth("wrong")).isInstanceOf(JedisDataException.class).hasMessageContaining("WRONGPASS");
            assertThat(a.auth("key-a")).isEqualTo("OK");
            assertThat(b.auth("default", "key-b")).isEqualTo("OK");
            a2.auth("key-a2");
            a.set(b("k"), b("tenant a"));
            assertThat(b.get(b("k"))).isNull();
            assertThat(b.exists(b("k"))).isFalse();
            assertThat(b.del(b("k"))).isZero();
            assertThat(a.get(b("k"))).isEqualTo(b("tenant a"));
            assertThat(a2.get(b("k"))).isEqualTo(b("tenant a"));   // same cache salt: same namespace
            b.set(b("k"), b("tenant b"));
            assertThat(a.get(b("k"))).isEqualTo(b("tenant a"));
        }
    }

    @Test
    void oversizedValuesAreRefusedAndTheConnectionGoesOn() {
        RespServer s = server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 64L << 20,
                RespSettings.loopback(0).withLimits(1 << 20, 4L << 20, 8L << 20));
        try (Jedis j = jedis(s.port())) {
            assertThatThrownBy(() -> j.set(b("big"), random(3 << 20, 5)))
                    .isInstanceOf(JedisDataException.class).hasMessageContaining("kv-cache.resp-max-value-bytes");
            assertThat(j.ping()).isEqualTo("PONG");
            byte[] ok = random(1 << 20, 6);
            j.set(b("fits"), ok);
            assertThat(j.get(b("fits"))).isEqualTo(ok);
            assertThat(j.exists(b("big"))).isFalse();
        }
        assertThat(s.inflightBytes()).isZero();
    }

    @Test
    void malformedRespGetsAnErrorAndAClose() throws Exception {
        RespServer s = openServer();
        assertThat(rawExchange(s.port(), "*1\r\n$abc\r\n")).startsWith("-ERR Protocol error");
        assertThat(rawExchange(s.port(), "*2\r\n:1\r\n")).startsWith("-ERR Protocol error");
        // inline commands (as typed into telnet) work
        assertThat(rawExchange(s.port(), "PING\r\nQUIT\r\n")).isEqualTo("+PONG\r\n+OK\r\n");
        assertThat(rawExchange(s.port(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvXX\r\n")).startsWith("-ERR Protocol error");
    }

    @Test
    void aClientThatDoesNotReadItsRepliesHoldsOneReplyNotAllOfThem() throws Exception {
        RespServer s = server(TestHazelcast.member(), "resp-" + UUID.randomUUID(), 1, 64L << 20,
                RespSettings.loopback(0).withLimits(4 << 20, 8L << 20, 16L << 20));
        byte[] v = random(4 << 20, 9);
        try (Jedis j = jedis(s.port())) {
            j.set(b("big"), v);
        }
        try (Socket slow = new Socket("127.0.0.1", s.port())) {
            slow.setReceiveBufferSize(4096);
            OutputStream out = slow.getOutputStream();
            String get = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
            out.write(get.repeat(50).getBytes(StandardCharsets.ISO_8859_1));   // 200 MB of replies asked for, none read
            out.flush();
            // replies flow until the kernel's buffers are full; then one reply stays pending, never more
            long deadline = System.nanoTime() + 60_000_000_000L;
            int steady = 0;
            while (steady < 50 && System.nanoTime() < deadline) {
                long held = s.inflightBytes();
                assertThat(held).as("at most one reply in flight").isLessThanOrEqualTo(v.length);
                steady = held == v.length ? steady + 1 : 0;
                java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
            }
            assertThat(s.inflightBytes()).as("one reply waits for the slow reader").isEqualTo(v.length);
            try (Jedis other = jedis(s.port())) {                      // everyone else is served meanwhile
                assertThat(other.get(b("big"))).isEqualTo(v);
            }
            long settle = System.nanoTime() + 30_000_000_000L;   // the other reply is released once its write completed
            while (s.inflightBytes() != v.length && System.nanoTime() < settle) {
                java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
            }
            assertThat(s.inflightBytes()).isEqualTo(v.length);
        }
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (s.inflightBytes() != 0 && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
        }
        assertThat(s.inflightBytes()).as("released when the slow client goes").isZero();
    }

    /** Sends bytes, then reads until the server closes the connection. */
    static String rawExchange(int port, String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) >= 0) {
                got.write(buf, 0, n);
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    @Test
    void aValueWrittenThroughOneProcessIsReadThroughAnother() {
        String map = "resp-" + UUID.randomUUID();
        HazelcastInstance second = TestHazelcast.extraMember();
        try {
            RespServer one = server(TestHazelcast.member(), map, 1, 64L << 20, RespSettings.loopback(0));
            RespServer two = server(second, map, 1, 64L << 20, RespSettings.loopback(0));
            try (Jedis a = jedis(one.port()); Jedis b = jedis(two.port())) {
                byte[] v = random(MB18, 7);
                a.set(b("shared"), v);
                assertThat(b.exists(b("shared"))).isTrue();
                assertThat(b.get(b("shared"))).isEqualTo(v);
                byte[] v2 = random(MB18 / 2, 8);
                b.set(b("shared"), v2);                 // the other process's local copy is now stale ...
                assertThat(a.get(b("shared"))).isEqualTo(v2);   // ... and never served
                a.del(b("shared"));
                assertThat(b.get(b("shared"))).isNull();
            }
        } finally {
            second.getLifecycleService().terminate();
        }
    }

    @Test
    void aLostMemberCostsValuesNeverBytes() {
        String map = "resp-" + UUID.randomUUID();
        HazelcastInstance second = TestHazelcast.extraMember();
        RespServer one = server(TestHazelcast.member(), map, 0, 0, RespSettings.loopback(0));
        RespServer two = server(second, map, 0, 0, RespSettings.loopback(0));
        int values = 6;
        List<byte[]> written = new ArrayList<>();
        try (Jedis a = jedis(one.port()); Jedis b = jedis(two.port())) {
            for (int i = 0; i < values; i++) {
                byte[] v = random(4 << 20, 100 + i);
                written.add(v);
                b.set(b("v" + i), v);
            }
            second.getLifecycleService().terminate();   // abrupt: no migration, no backups (backup-count 0)
            int misses = 0;
            for (int i = 0; i < values; i++) {
                byte[] got = a.get(b("v" + i));
                if (got == null) {
                    misses++;
                } else {
                    assertThat(Arrays.equals(got, written.get(i))).as("value %d is the written bytes", i).isTrue();
                }
            }
            assertThat(misses).as("its chunks were placed on the lost member: values were lost").isPositive();
            assertThat(a.ping()).isEqualTo("PONG");
            byte[] after = random(2 << 20, 200);
            a.set(b("after"), after);
            assertThat(a.get(b("after"))).isEqualTo(after);
        }
    }
}
