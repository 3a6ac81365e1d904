package io.inferq.kvcache.events;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.kvcache.events.FakeVllmPublisher.Cleared;
import io.inferq.kvcache.events.FakeVllmPublisher.Ev;
import io.inferq.kvcache.events.FakeVllmPublisher.Removed;
import io.inferq.kvcache.events.FakeVllmPublisher.Stored;
import io.inferq.kvcache.hashing.BlockHasher;
import io.inferq.kvcache.hashing.HashSeed;
import io.inferq.kvcache.FakeClock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The subscriber against a vLLM-format publisher (JeroMQ + msgpack) that mixes both event encodings, drops a range
 * of sequence numbers (so the subscriber must replay them) and is joined late (the first batches come by replay).
 */
class KvEventSubscriberTest {

    static final int BLOCK = 16;
    final BlockHasher hasher = new BlockHasher(HashSeed.derive("deepseek-v3", "engine-token-ids", ""), BLOCK);
    final Random random = new Random(42);
    /** The publisher's own view: engine hash → our chained hash of that block. */
    final Map<Object, Long> engineState = new HashMap<>();
    final List<Object> keys = new ArrayList<>();   // engine hashes as the map keys (byte[] wrapped)

    int[] tokens(int blocks) {
        int[] t = new int[blocks * BLOCK];
        for (int i = 0; i < t.length; i++) {
            t[i] = random.nextInt(150_000);
        }
        return t;
    }

    Object engineHash(boolean bytes) {
        if (bytes) {
            byte[] b = new byte[32];
            random.nextBytes(b);
            return b;
        }
        return random.nextLong();
    }

    static Object key(Object h) {
        return h instanceof byte[] b ? java.util.HexFormat.of().formatHex(b) : h;
    }

    /** Blocks {@code from..to-1} of {@code prompt} stored, chained to the engine hash of block from-1. */
    Stored store(int[] prompt, List<Object> hashesOfPrompt, int from, int to, boolean bytes) {
        List<Long> ours = hasher.blockHashes(prompt);
        List<Object> hs = new ArrayList<>();
        for (int b = from; b < to; b++) {
            Object h = engineHash(bytes);
            hashesOfPrompt.add(h);
            hs.add(h);
            engineState.put(key(h), ours.get(b));
        }
        return new Stored(hs, from == 0 ? null : hashesOfPrompt.get(from - 1),
                FakeVllmPublisher.slice(prompt, from * BLOCK, to * BLOCK), BLOCK, "GPU");
    }

    Removed remove(Object... hashes) {
        for (Object h : hashes) {
            engineState.remove(key(h));
        }
        return new Removed(List.of(hashes), "GPU");
    }

    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000);
        }
    }

    @Test
    void theIndexFollowsThePublisherThroughBothEncodingsAGapAndALateJoin() {
        AtomicLong clock = new AtomicLong();
        EngineBlockIndex index = new EngineBlockIndex(hasher, new FakeClock(clock));
        index.registerPool("h800", 2);
        try (FakeVllmPublisher pub = new FakeVllmPublisher("kv", Set.of(5L, 6L, 7L, 8L))) {
            // published before anyone listens: reaches the subscriber only by replay
            int[] a = tokens(4);
            List<Object> ha = new ArrayList<>();
            pub.publish(FakeVllmPublisher.batch(1.0, List.of(store(a, ha, 0, 4, false)), false));
            int[] b = new int[5 * BLOCK];
            System.arraycopy(a, 0, b, 0, 2 * BLOCK);
            System.arraycopy(tokens(3), 0, b, 2 * BLOCK, 3 * BLOCK);
            List<Object> hb = new ArrayList<>(ha.subList(0, 2));
            pub.publish(FakeVllmPublisher.batch(2.0, List.of(store(b, hb, 2, 5, true)), true));

            try (KvEventSubscriber sub = new KvEventSubscriber("h800", 1, pub.endpoint, pub.replayEndpoint, "kv", index)
                    .start()) {
                int[] c = tokens(2);
                List<Object> hc = new ArrayList<>();
                long probe = pub.publish(FakeVllmPublisher.batch(3.0, List.of(store(c, hc, 0, 2, false)), false));
                await(() -> {
                    pub.resend(probe);     // until the subscription is up (a SUB misses what was sent before)
                    return sub.applied() >= 3;
                }, "the first live batch");
                assertThat(sub.replayed()).as("batches 0 and 1 came by replay").isEqualTo(2);

                List<Ev> mixed = new ArrayList<>();
                mixed.add(remove(ha.get(3)));
                pub.publish(FakeVllmPublisher.batch(4.0, mixed, true));                       // 3
                pub.publish(FakeVllmPublisher.batch(5.0, List.of(store(tokens(3), new ArrayList<>(), 0, 3, true)), true)); // 4
                int[] d = tokens(3);
                List<Object> hd = new ArrayList<>();
                pub.publish(FakeVllmPublisher.batch(6.0, List.of(store(d, hd, 0, 3, false)), false));   // 5 dropped
                pub.publish(FakeVllmPublisher.batch(7.0, List.of(remove(hc.get(1))), false));           // 6 dropped
                pub.publish(FakeVllmPublisher.batch(8.0, List.of(remove(hd.get(2), hb.get(4))), true)); // 7 dropped
                int[] e = tokens(2);
                pub.publish(FakeVllmPublisher.batch(9.0, List.of(store(e, new ArrayList<>(), 0, 2, true)), true)); // 8 dropped
                pub.publish(FakeVllmPublisher.batch(10.0, List.of(store(tokens(1), new ArrayList<>(), 0, 1, false)), false)); // 9
                await(() -> sub.applied() == 10, "all ten batches");
                assertThat(sub.replayed()).as("0, 1 and the dropped 5-8").isEqualTo(6);
                assertThat(sub.resets()).isZero();
                assertThat(index.blocksOf("h800", 1)).isEqualTo(new HashSet<>(engineState.values()));
                assertThat(index.blocksOf("h800", 0)).isEmpty();

                // routing view: the prompt b's leading blocks are on instance 1 (blocks 0..3: a's 0,1 and b's own 2,3;
                // b's block 4 was removed)
                assertThat(index.leadingBlocksByInstance("h800", hasher.blockHashes(b))).containsExactly(0, 4);
                assertThat(index.leadingBlocksByPool(hasher.blockHashes(d))).containsEntry("h800", 2);
                clock.addAndGet(1_000_000_000L);
                assertThat(index.isFresh("h800", 5_000_000_000L)).as("instance 0 never spoke").isFalse();

                engineState.clear();
                int[] g = tokens(2);
                pub.publish(FakeVllmPublisher.batch(11.0, List.of(new Cleared(), store(g, new ArrayList<>(), 0, 2, false)),
                        false));
                await(() -> sub.applied() == 11, "the clear");
                assertThat(index.blocksOf("h800", 1)).isEqualTo(new HashSet<>(engineState.values()));
            }
        }
    }

    @Test
    void anotherBlockSizeIsRefusedAndSaidSo() {
        EngineBlockIndex index = new EngineBlockIndex(hasher, java.time.Clock.systemUTC());
        index.registerPool("p", 1);
        int[] t = tokens(2);
        index.apply("p", 0, KvEventBatch.decode(FakeVllmPublisher.batch(1.0,
                List.of(new Stored(List.of(1L, 2L), null, t, BLOCK / 2 * 4, "GPU")), false)));
        assertThat(index.blocksOf("p", 0)).isEmpty();
        assertThat(index.blockSizeMismatch("p", 0)).isTrue();
        assertThat(index.isFresh("p", Long.MAX_VALUE)).isFalse();
    }

    @Test
    void anUnrecoverableGapForgetsTheInstance() {
        EngineBlockIndex index = new EngineBlockIndex(hasher, java.time.Clock.systemUTC());
        index.registerPool("p", 1);
        try (FakeVllmPublisher pub = new FakeVllmPublisher("", Set.of())) {
            // no replay endpoint: a gap cannot be filled
            try (KvEventSubscriber sub = new KvEventSubscriber("p", 0, pub.endpoint, null, "", index).start()) {
                long first = pub.publish(FakeVllmPublisher.batch(1.0, List.of(store(tokens(2), new ArrayList<>(), 0, 2, false)),
                        false));
                await(() -> {
                    pub.resend(first);
                    return sub.applied() >= 1;
                }, "the first batch");
                assertThat(index.blocksOf("p", 0)).hasSize(2);
                pub.buffer.add(new byte[0]);    // seq 1 "published" but never sent
                pub.publish(FakeVllmPublisher.batch(3.0, List.of(store(tokens(1), new ArrayList<>(), 0, 1, true)), true));
                await(() -> sub.applied() >= 2, "the batch after the gap");
                assertThat(sub.resets()).isEqualTo(1);
                assertThat(index.blocksOf("p", 0)).hasSize(1);
            }
        }
    }
}
