package io.inferq.kvcache.resp;

import static org.assertj.core.api.Assertions.assertThat;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.kvcache.TestHazelcast;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/** The store's chunk path directly: framed parts, their placement, the checksum, a member lost mid-write. */
class RemoteValueStoreTest {

    private static final int CHUNK = 256 * 1024;

    /** A value received the way the Redis front end receives it: in framed parts. */
    static Value framed(byte[] bytes) {
        int n = Math.max(1, (bytes.length + CHUNK - 1) / CHUNK);
        byte[][] parts = new byte[n][];
        for (int i = 0; i < n; i++) {
            int len = Math.min(CHUNK, bytes.length - i * CHUNK);
            parts[i] = RemoteValueStore.newPart(len);
            System.arraycopy(bytes, i * CHUNK, parts[i], RemoteValueStore.FRAME, len);
        }
        return new Value(parts, RemoteValueStore.FRAME);
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The chunk keys a value's head names. */
    static List<String> chunkKeys(HazelcastInstance hz, String map, String namespace, byte[] key) {
        String hk = RemoteValueStore.headKey(namespace, key);
        byte[] head = hz.<String, byte[]>getMap(map + ".heads").get(hk);
        java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(head);
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < h.getInt(8); i++) {
            keys.add(RemoteValueStore.chunkKey(hk, h.getLong(12), i, head[RemoteValueStore.HEAD_BYTES + i] & 0xff));
        }
        return keys;
    }

    @Test
    void framedPartsAreStoredAsHazelcastByteArraysOnTheWritersMember() {
        HazelcastInstance hz = TestHazelcast.member();
        String map = "rvs-" + UUID.randomUUID();
        RemoteValueStore store = RemoteValueStore.create(hz, map, CHUNK, 256, 1, 0, Clock.systemUTC());   // no local copy
        byte[] v = random(5 * CHUNK + 123, 1);
        store.set("ns", b("k"), framed(v), 0);
        assertThat(store.get("ns", b("k"))).isEqualTo(v);
        IMap<String, Object> chunks = hz.getMap(map + ".chunks");
        List<String> keys = chunkKeys(hz, map, "ns", b("k"));
        assertThat(keys).hasSize(6);
        for (int i = 0; i < keys.size(); i++) {
            // what Hazelcast itself hands back for the framed array is the plain byte[] of the chunk's bytes
            assertThat(chunks.get(keys.get(i))).isEqualTo(Arrays.copyOfRange(v, i * CHUNK, Math.min(v.length, (i + 1) * CHUNK)));
            assertThat(hz.getPartitionService().getPartition(keys.get(i)).getOwner()).isEqualTo(hz.getCluster().getLocalMember());
        }
        byte[] small = random(1000, 2);   // one part: inline in the head
        store.set("ns", b("small"), framed(small), 0);
        assertThat(store.get("ns", b("small"))).isEqualTo(small);
    }

    @Test
    void aChunkWithOtherBytesMakesAMissNotAWrongValue() {
        HazelcastInstance hz = TestHazelcast.member();
        String map = "rvs-" + UUID.randomUUID();
        RemoteValueStore store = RemoteValueStore.create(hz, map, CHUNK, 256, 1, 0, Clock.systemUTC());
        byte[] v = random(3 * CHUNK, 3);
        store.set("ns", b("k"), framed(v), 0);
        String second = chunkKeys(hz, map, "ns", b("k")).get(1);
        byte[] other = random(CHUNK, 4);
        hz.<String, Object>getMap(map + ".chunks").set(second, other);
        assertThat(store.get("ns", b("k"))).isNull();
    }

    /**
     * Values are written (each as parallel chunk writes) while the other member of a backup-less cluster is killed:
     * every value read afterwards is exactly what was written under its key, or a miss; and writing goes on.
     */
    @Test
    void aMemberLostDuringParallelChunkWritesCostsValuesNeverBytes() throws Exception {
        HazelcastInstance one = TestHazelcast.member();
        HazelcastInstance two = TestHazelcast.extraMember();
        String map = "rvs-" + UUID.randomUUID();
        try {
            RemoteValueStore a = RemoteValueStore.create(one, map, CHUNK, 256, 0, 0, Clock.systemUTC());
            RemoteValueStore b = RemoteValueStore.create(two, map, CHUNK, 256, 0, 0, Clock.systemUTC());
            awaitBalanced(one, two);
            Member twoMember = two.getCluster().getLocalMember();
            byte[] viaTwo = random(4 * CHUNK, 5);
            b.set("ns", b("via-two"), framed(viaTwo), 0);
            for (String k : chunkKeys(one, map, "ns", b("via-two"))) {
                assertThat(one.getPartitionService().getPartition(k).getOwner()).isEqualTo(twoMember);
            }
            Map<String, byte[]> written = new ConcurrentHashMap<>();
            AtomicBoolean stop = new AtomicBoolean();
            List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread writer = new Thread(() -> {
                for (int i = 0; !stop.get() && i < 200; i++) {
                    byte[] v = random(2 * CHUNK + i, 100 + i);
                    try {
                        a.set("ns", b("w" + i), framed(v), 0);
                        written.put("w" + i, v);
                    } catch (RuntimeException e) {
                        failures.add(e);   // a write cut by the loss may fail; it must not leave wrong bytes
                    }
                }
            });
            writer.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (written.size() < 3 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(5_000_000);
            }
            two.getLifecycleService().terminate();   // abrupt, mid-writes; backup-count 0: its partitions' entries are gone
            int before = written.size();
            while (written.size() < before + 3 && writer.isAlive() && System.nanoTime() < deadline) {
                LockSupport.parkNanos(5_000_000);
            }
            stop.set(true);
            writer.join(TimeUnit.SECONDS.toMillis(120));
            assertThat(writer.isAlive()).isFalse();
            for (int i = 0; i < 200; i++) {
                byte[] got = a.get("ns", b("w" + i));
                if (got != null) {
                    assertThat(written.get("w" + i)).as("w%d was acknowledged", i).isNotNull();
                    assertThat(Arrays.equals(got, written.get("w" + i))).as("w%d is the written bytes", i).isTrue();
                }
            }
            assertThat(a.get("ns", b("via-two"))).as("its chunks were on the lost member").isNull();
            byte[] after = random(3 * CHUNK, 7);
            a.set("ns", b("after"), framed(after), 0);
            assertThat(a.get("ns", b("after"))).isEqualTo(after);
        } finally {
            two.getLifecycleService().terminate();
        }
    }

    /** Until both members own partitions, agree on every owner and no migration runs (placement is decided by the table). */
    private static void awaitBalanced(HazelcastInstance one, HazelcastInstance two) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!balanced(one, two) && System.nanoTime() < deadline) {
            LockSupport.parkNanos(50_000_000);
        }
        assertThat(balanced(one, two)).as("the second member took its partitions").isTrue();
    }

    private static boolean balanced(HazelcastInstance one, HazelcastInstance two) {
        if (!one.getPartitionService().isClusterSafe() || !two.getPartitionService().isClusterSafe()) {
            return false;
        }
        Member second = two.getCluster().getLocalMember();
        Map<Integer, Member> seenByTwo = new java.util.HashMap<>();
        for (com.hazelcast.partition.Partition p : two.getPartitionService().getPartitions()) {
            seenByTwo.put(p.getPartitionId(), p.getOwner());
        }
        boolean secondOwnsSome = false;
        for (com.hazelcast.partition.Partition p : one.getPartitionService().getPartitions()) {
            Member owner = p.getOwner();
            if (owner == null || !owner.equals(seenByTwo.get(p.getPartitionId()))) {
                return false;
            }
            secondOwnsSome |= owner.equals(second);
        }
        return secondOwnsSome;
    }
}
