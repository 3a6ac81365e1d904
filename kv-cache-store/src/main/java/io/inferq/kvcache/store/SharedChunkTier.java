package io.inferq.kvcache.store;

import com.hazelcast.map.IMap;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import net.openhft.hashing.LongHashFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared tier: block payloads split into chunks of at most {@code chunkBytes} value bytes in a
 * Hazelcast map keyed by {@link BlockKey#chunkKey}. Chunk 0 starts with a 16-byte header
 * {@code [int payloadLength][int chunkCount][long checksum]}; the checksum is
 * {@code XXH3_64(payload, seed = blockHash ^ formatFingerprint)}, so bytes filed under the wrong key also
 * fail the check. A block with a missing chunk is a miss.
 *
 * <p>Recency: stores and lookups ({@link #present}) go through an entry processor on chunk 0 that refreshes the
 * owning member's exact LRU order ({@link SharedKvTier}), which evicts whole blocks; {@link #touchAsync}
 * refreshes blocks a worker served from its local tier. On a map without {@link SharedKvTier#install} the
 * processor only answers presence.
 *
 * <p>Thread-safe; every method blocks on Hazelcast and throws its runtime exceptions (the caller turns
 * them into misses).
 */
final class SharedChunkTier {

    static final int HEADER_BYTES = 16;

    private static final Logger LOG = LoggerFactory.getLogger(SharedChunkTier.class);
    private static final long REGISTRATION_WAIT_SECONDS = 30;
    /** Keys per entry-processor call (see {@link #submitInSlices}). */
    static final int KEYS_PER_CALL = 64;

    private final IMap<String, byte[]> map;
    private final int chunkBytes;
    private final Object registrationLock = new Object();
    private volatile CompletableFuture<?> lastRegistration;   // written under registrationLock; see putAll

    SharedChunkTier(IMap<String, byte[]> map, int chunkBytes) {
        this.map = map;
        this.chunkBytes = chunkBytes;
    }

    static long checksum(BlockKey key, byte[] payload) {
        return LongHashFunction.xx3(key.blockHash() ^ key.formatFingerprint()).hashBytes(payload);
    }

    int chunkCount(int payloadLength) {
        int firstData = chunkBytes - HEADER_BYTES;
        if (payloadLength <= firstData) {
            return 1;
        }
        return 1 + (payloadLength - firstData + chunkBytes - 1) / chunkBytes;
    }

    /** Chunks of one block, in order; chunk 0 carries the header. */
    List<byte[]> split(BlockKey key, byte[] payload) {
        int chunks = chunkCount(payload.length);
        List<byte[]> out = new ArrayList<>(chunks);
        int firstData = Math.min(payload.length, chunkBytes - HEADER_BYTES);
        ByteBuffer first = ByteBuffer.allocate(HEADER_BYTES + firstData);
        first.putInt(payload.length).putInt(chunks).putLong(checksum(key, payload)).put(payload, 0, firstData);
        out.add(first.array());
        for (int off = firstData; off < payload.length; off += chunkBytes) {
            int len = Math.min(chunkBytes, payload.length - off);
            byte[] c = new byte[len];
            System.arraycopy(payload, off, c, 0, len);
            out.add(c);
        }
        return out;
    }

    /**
     * Writes all chunks (one batched call), then enters the blocks into the recency order with another batched
     * call that is not waited for: the next {@code putAll} waits for it first, so at most one registration is
     * outstanding and registrations stay in order. A failed registration leaves the blocks to the map's
     * Hazelcast backstop bound.
     */
    void putAll(Map<BlockKey, byte[]> blocks) {
        Map<String, byte[]> chunks = new HashMap<>();
        Set<String> heads = new HashSet<>();
        for (Map.Entry<BlockKey, byte[]> e : blocks.entrySet()) {
            List<byte[]> parts = split(e.getKey(), e.getValue());
            for (int i = 0; i < parts.size(); i++) {
                chunks.put(e.getKey().chunkKey(i), parts.get(i));
            }
            heads.add(e.getKey().chunkKey(0));
        }
        map.setAll(chunks);
        synchronized (registrationLock) {
            awaitRegistration();
            lastRegistration = submitInSlices(heads);
        }
    }

    /** Waits (bounded) for the previous registration; its failure is only a lost recency hint. */
    void awaitRegistration() {
        CompletableFuture<?> previous = lastRegistration;
        if (previous == null) {
            return;
        }
        try {
            previous.get(REGISTRATION_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.debug("shared KV tier recency registration failed: {}", e.toString());
        }
    }

    /** Refreshes the recency of blocks served from a local tier; asynchronous. */
    CompletionStage<?> touchAsync(Collection<BlockKey> keys) {
        Set<String> heads = new HashSet<>();
        for (BlockKey k : keys) {
            heads.add(k.chunkKey(0));
        }
        return submitInSlices(heads);
    }

    /**
     * {@code submitToKeys} in slices of {@value #KEYS_PER_CALL} keys: Hazelcast runs one operation per partition
     * that holds a key and each of them looks at every key of the call, so one call costs keys × partitions.
     */
    private CompletableFuture<?> submitInSlices(Set<String> heads) {
        List<CompletableFuture<?>> calls = new ArrayList<>();
        Set<String> slice = new HashSet<>();
        for (String h : heads) {
            slice.add(h);
            if (slice.size() == KEYS_PER_CALL) {
                calls.add(map.submitToKeys(slice, new SharedKvTier.TouchBlock(map.getName())).toCompletableFuture());
                slice = new HashSet<>();
            }
        }
        if (!slice.isEmpty()) {
            calls.add(map.submitToKeys(slice, new SharedKvTier.TouchBlock(map.getName())).toCompletableFuture());
        }
        return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new));
    }

    /**
     * Which of {@code keys} have chunk 0 in the map (no payload is copied). A lookup is a use: each block
     * found is also marked most recently used in its member's order (so the following read needs no
     * entry processor of its own).
     */
    Set<BlockKey> present(List<BlockKey> keys) {
        Map<String, BlockKey> byChunk0 = new HashMap<>();
        for (BlockKey k : keys) {
            byChunk0.put(k.chunkKey(0), k);
        }
        Map<String, Boolean> found = map.executeOnKeys(new HashSet<>(byChunk0.keySet()),
                new SharedKvTier.TouchBlock(map.getName()));
        Set<BlockKey> out = new HashSet<>();
        for (Map.Entry<String, Boolean> e : found.entrySet()) {
            if (Boolean.TRUE.equals(e.getValue())) {
                out.add(byChunk0.get(e.getKey()));
            }
        }
        return out;
    }

    /**
     * Reads whole blocks (two round trips at most: all chunk 0s, then all further chunks).
     *
     * @return key → payload for every block that was complete and passed its checksum; a block that
     *         failed its checksum is reported in {@code corrupt}
     */
    Map<BlockKey, byte[]> getAll(List<BlockKey> keys, List<BlockKey> corrupt) {
        Map<String, BlockKey> byChunk0 = new LinkedHashMap<>();
        for (BlockKey k : keys) {
            byChunk0.put(k.chunkKey(0), k);
        }
        Map<String, byte[]> firsts = map.getAll(new HashSet<>(byChunk0.keySet()));
        Map<BlockKey, ByteBuffer> headers = new HashMap<>();
        Set<String> rest = new HashSet<>();
        for (Map.Entry<String, BlockKey> e : byChunk0.entrySet()) {
            byte[] first = firsts.get(e.getKey());
            if (first == null || first.length < HEADER_BYTES) {
                continue;
            }
            ByteBuffer h = ByteBuffer.wrap(first);
            headers.put(e.getValue(), h);
            int chunks = h.getInt(4);
            for (int i = 1; i < chunks; i++) {
                rest.add(e.getValue().chunkKey(i));
            }
        }
        Map<String, byte[]> others = rest.isEmpty() ? Map.of() : map.getAll(rest);
        Map<BlockKey, byte[]> out = new HashMap<>();
        for (Map.Entry<BlockKey, ByteBuffer> e : headers.entrySet()) {
            byte[] payload = assemble(e.getKey(), e.getValue(), others);
            if (payload == null) {
                continue;
            }
            if (checksum(e.getKey(), payload) == e.getValue().getLong(8)) {
                out.put(e.getKey(), payload);
            } else {
                corrupt.add(e.getKey());
            }
        }
        return out;
    }

    private byte[] assemble(BlockKey key, ByteBuffer header, Map<String, byte[]> others) {
        int length = header.getInt(0);
        int chunks = header.getInt(4);
        if (length < 0 || chunks < 1 || chunks - 1 > length) {
            return null;
        }
        byte[] payload = new byte[length];
        int firstData = header.capacity() - HEADER_BYTES;
        System.arraycopy(header.array(), HEADER_BYTES, payload, 0, Math.min(firstData, length));
        int off = firstData;
        for (int i = 1; i < chunks; i++) {
            byte[] c = others.get(key.chunkKey(i));
            if (c == null || off + c.length > length) {
                return null;        // evicted or inconsistent chunk: the block is a miss
            }
            System.arraycopy(c, 0, payload, off, c.length);
            off += c.length;
        }
        return off == length ? payload : null;
    }
}
