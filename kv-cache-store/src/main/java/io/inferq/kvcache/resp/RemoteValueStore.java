package io.inferq.kvcache.resp;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import net.openhft.hashing.LongHashFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Byte values under byte keys, by namespace: the store behind the Redis-protocol tier ({@link RespServer}).
 * A local Caffeine cache (bounded by value bytes) sits in front of two Hazelcast maps shared by every inferq
 * process of the cluster:
 * <ul>
 *   <li>{@code <name>.heads}: namespaced key → a 36-byte head {@code [int magic][int length][int chunkCount]
 *       [long writeId][long checksum][long expiresAtMillis]}, followed by the value itself when it is small
 *       (≤ the chunk size: chunk count 0);</li>
 *   <li>{@code <name>.chunks}: {@code key + writeId + index} → at most {@code chunkBytes} of the value, so no
 *       Hazelcast entry of an 18 MB value is a G1 humongous object.</li>
 * </ul>
 * A write stores its chunks under a fresh random {@code writeId}, then replaces the head, then deletes the
 * chunks of the head it replaced. A read takes the head (one small round trip), serves the local copy when it
 * belongs to that same write, and otherwise fetches the chunks of that write and checks their checksum
 * (XXH3, seeded with the write id, over each chunk's XXH3): a missing chunk (evicted, member lost, overwritten meanwhile) or a mismatch is a
 * miss, never other bytes. Both maps are bounded by bytes per member ({@link MaxSizePolicy#USED_HEAP_SIZE},
 * LRU) and keep {@code backupCount} backups; a value whose chunks were evicted loses its head on the next read.
 *
 * <p>Expiry is decided by the injected {@link Clock} (the head's {@code expiresAtMillis}); Hazelcast's own
 * per-entry TTL (a minute longer) only reclaims the memory.
 *
 * <p>Thread-safe. Every method blocks on Hazelcast: call it from a worker thread, never an event loop.
 * Hazelcast failures propagate as runtime exceptions from writes; reads turn them into misses.
 */
public final class RemoteValueStore {

    static final int MAGIC = 0x52455350;   // "RESP"
    static final int HEAD_BYTES = 36;
    /** Hazelcast keeps an expiring entry this much longer than its expiry (reads decide by the clock). */
    static final long TTL_GRACE_MILLIS = 60_000;

    private static final Logger LOG = LoggerFactory.getLogger(RemoteValueStore.class);

    private final IMap<String, byte[]> heads;
    private final IMap<String, byte[]> chunks;
    private final int chunkBytes;
    private final Clock clock;
    private final Cache<String, LocalCopy> local;

    private record LocalCopy(long writeId, byte[][] parts) {
    }

    /** A value and, when it has one, its expiry (epoch millis, 0 = none). */
    private record Head(int length, int chunkCount, long writeId, long checksum, long expiresAt, byte[] raw) {
        static Head parse(byte[] raw) {
            if (raw == null || raw.length < HEAD_BYTES) {
                return null;
            }
            ByteBuffer b = ByteBuffer.wrap(raw);
            if (b.getInt(0) != MAGIC) {
                return null;
            }
            return new Head(b.getInt(4), b.getInt(8), b.getLong(12), b.getLong(20), b.getLong(28), raw);
        }
    }

    private RemoteValueStore(IMap<String, byte[]> heads, IMap<String, byte[]> chunks, int chunkBytes, long localBytes,
                             Clock clock) {
        this.heads = heads;
        this.chunks = chunks;
        this.chunkBytes = chunkBytes;
        this.clock = clock;
        this.local = Caffeine.newBuilder()
                .maximumWeight(Math.max(0, localBytes))
                .<String, LocalCopy>weigher((k, v) -> (int) Math.min(Integer.MAX_VALUE, length(v.parts())))
                .executor(Runnable::run)
                .build();
    }

    /**
     * Adds the two maps' configuration to {@code hazelcast} (a member: dynamic configuration; idempotent for
     * the same settings) and returns a store on them.
     *
     * @param name            map name prefix ({@code <name>.heads}, {@code <name>.chunks})
     * @param chunkBytes      largest Hazelcast value, 1 KiB – 384 KiB
     * @param sharedMegabytes per-member bound of the chunk map in MiB (the head map gets a sixteenth, at least 16)
     * @param backupCount     Hazelcast backups of each entry, 0-6
     * @param localBytes      bytes of the local Caffeine copy (0 = none)
     * @param clock           decides expiry
     */
    public static RemoteValueStore create(HazelcastInstance hazelcast, String name, int chunkBytes, int sharedMegabytes,
                                          int backupCount, long localBytes, Clock clock) {
        Objects.requireNonNull(hazelcast, "hazelcast must not be null");
        Objects.requireNonNull(clock, "clock must not be null");
        if (chunkBytes < 1024 || chunkBytes > 384 * 1024) {
            throw new IllegalArgumentException("chunkBytes must be 1 KiB - 384 KiB, was " + chunkBytes);
        }
        if (sharedMegabytes < 1) {
            throw new IllegalArgumentException("sharedMegabytes must be positive, was " + sharedMegabytes);
        }
        if (backupCount < 0 || backupCount > 6) {
            throw new IllegalArgumentException("backupCount must be 0-6, was " + backupCount);
        }
        if (localBytes < 0) {
            throw new IllegalArgumentException("localBytes must not be negative, was " + localBytes);
        }
        if (hazelcast.getLocalEndpoint() instanceof com.hazelcast.cluster.Member) {
            hazelcast.getConfig().addMapConfig(mapConfig(name + ".heads", Math.max(16, sharedMegabytes / 16), backupCount));
            hazelcast.getConfig().addMapConfig(mapConfig(name + ".chunks", sharedMegabytes, backupCount));
        }
        return new RemoteValueStore(hazelcast.getMap(name + ".heads"), hazelcast.getMap(name + ".chunks"), chunkBytes,
                localBytes, clock);
    }

    static MapConfig mapConfig(String mapName, int megabytes, int backupCount) {
        return new MapConfig(mapName)
                .setBackupCount(backupCount)
                .setEvictionConfig(new EvictionConfig()
                        .setMaxSizePolicy(MaxSizePolicy.USED_HEAP_SIZE)
                        .setSize(megabytes)
                        .setEvictionPolicy(EvictionPolicy.LRU));
    }

    /** The Hazelcast key of {@code key} in {@code namespace} (a byte-for-byte ISO-8859-1 string). */
    static String headKey(String namespace, byte[] key) {
        return namespace + '\u0000' + new String(key, StandardCharsets.ISO_8859_1);
    }

    private static String chunkKey(String headKey, long writeId, int index) {
        return headKey + '\u0000' + Long.toHexString(writeId) + ':' + index;
    }

    /** The largest part {@link #set} stores as one Hazelcast entry. */
    public int chunkBytes() {
        return chunkBytes;
    }

    /** Total bytes of a value's parts. */
    public static long length(byte[][] parts) {
        long n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        return n;
    }

    /** XXH3 over the parts' own XXH3 hashes, seeded with the write id: independent of how the bytes are cut. */
    static long checksum(long writeId, List<byte[]> parts) {
        long[] each = new long[parts.size()];
        for (int i = 0; i < each.length; i++) {
            each[i] = LongHashFunction.xx3().hashBytes(parts.get(i));
        }
        return LongHashFunction.xx3(writeId).hashLongs(each);
    }

    /**
     * Stores a value given as parts of at most {@link #chunkBytes()} each (the parts are kept by the local copy:
     * the caller must not change them afterwards). A value of one part fitting a chunk is stored in its head.
     *
     * @param ttlMillis time to live, 0 = none
     * @throws IllegalArgumentException if a part is larger than the chunk size
     */
    public void set(String namespace, byte[] key, byte[][] parts, long ttlMillis) {
        String hk = headKey(namespace, key);
        long writeId;
        do {
            writeId = ThreadLocalRandom.current().nextLong();
        } while (writeId == 0);
        long length = length(parts);
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("value larger than 2 GiB");
        }
        for (byte[] p : parts) {
            if (p.length > chunkBytes) {
                throw new IllegalArgumentException("part of " + p.length + " bytes is larger than the chunk size " + chunkBytes);
            }
        }
        List<byte[]> list = List.of(parts);
        long expiresAt = ttlMillis > 0 ? clock.millis() + ttlMillis : 0;
        boolean inline = parts.length <= 1;
        int count = inline ? 0 : parts.length;
        long hzTtl = ttlMillis > 0 ? ttlMillis + TTL_GRACE_MILLIS : 0;
        if (!inline) {
            List<CompletableFuture<Void>> writes = new ArrayList<>(count);
            Map<String, byte[]> all = new HashMap<>();
            for (int i = 0; i < count; i++) {
                if (hzTtl > 0) {
                    writes.add(chunks.setAsync(chunkKey(hk, writeId, i), parts[i], hzTtl, TimeUnit.MILLISECONDS)
                            .toCompletableFuture());
                } else {
                    all.put(chunkKey(hk, writeId, i), parts[i]);
                }
            }
            if (!all.isEmpty()) {
                writes.add(chunks.setAllAsync(all).toCompletableFuture());
            }
            CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).join();
        }
        byte[] only = inline && parts.length == 1 ? parts[0] : new byte[0];
        ByteBuffer head = ByteBuffer.allocate(HEAD_BYTES + (inline ? only.length : 0));
        head.putInt(MAGIC).putInt((int) length).putInt(count).putLong(writeId).putLong(checksum(writeId, list))
                .putLong(expiresAt);
        if (inline) {
            head.put(only);
        }
        byte[] old = hzTtl > 0 ? heads.put(hk, head.array(), hzTtl, TimeUnit.MILLISECONDS) : heads.put(hk, head.array());
        if (keepsLocalCopies()) {
            local.put(hk, new LocalCopy(writeId, parts));
        }
        deleteChunksOf(hk, Head.parse(old));
    }

    /** {@link #set} of one array (split into chunks here). */
    public void set(String namespace, byte[] key, byte[] value, long ttlMillis) {
        set(namespace, key, split(value), ttlMillis);
    }

    byte[][] split(byte[] value) {
        if (value.length <= chunkBytes) {
            return new byte[][] {value};
        }
        int n = (value.length + chunkBytes - 1) / chunkBytes;
        byte[][] parts = new byte[n][];
        for (int i = 0; i < n; i++) {
            parts[i] = java.util.Arrays.copyOfRange(value, i * chunkBytes, Math.min(value.length, (i + 1) * chunkBytes));
        }
        return parts;
    }

    private boolean keepsLocalCopies() {
        return local.policy().eviction().map(e -> e.getMaximum() > 0).orElse(false);
    }

    /** The value as one array, or null (see {@link #getParts}). */
    public byte[] get(String namespace, byte[] key) {
        byte[][] parts = getParts(namespace, key);
        if (parts == null) {
            return null;
        }
        if (parts.length == 1) {
            return parts[0];
        }
        byte[] v = new byte[(int) length(parts)];
        int off = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, v, off, p.length);
            off += p.length;
        }
        return v;
    }

    /**
     * The value's parts (to be concatenated; the caller must not change them), or null when absent, expired,
     * incomplete or unreadable.
     */
    public byte[][] getParts(String namespace, byte[] key) {
        String hk = headKey(namespace, key);
        Head h;
        try {
            h = Head.parse(heads.get(hk));
        } catch (RuntimeException e) {
            LOG.debug("remote KV tier: head read failed, a miss: {}", e.toString());
            return null;
        }
        if (h == null || expired(h)) {
            local.invalidate(hk);
            return null;
        }
        if (h.chunkCount() == 0) {
            byte[] v = java.util.Arrays.copyOfRange(h.raw(), HEAD_BYTES, h.raw().length);
            return v.length == h.length() && checksum(h.writeId(), List.of(v)) == h.checksum() ? new byte[][] {v} : null;
        }
        LocalCopy copy = local.getIfPresent(hk);
        if (copy != null && copy.writeId() == h.writeId()) {
            return copy.parts();
        }
        byte[][] v = readChunks(hk, h);
        if (v == null) {
            forgetIncomplete(hk, h);
            return null;
        }
        if (keepsLocalCopies()) {
            local.put(hk, new LocalCopy(h.writeId(), v));
        }
        return v;
    }

    private byte[][] readChunks(String hk, Head h) {
        if (h.length() < 0 || h.chunkCount() < 1 || (long) h.chunkCount() * chunkBytes < h.length()) {
            return null;
        }
        Set<String> keys = new HashSet<>();
        for (int i = 0; i < h.chunkCount(); i++) {
            keys.add(chunkKey(hk, h.writeId(), i));
        }
        Map<String, byte[]> found;
        try {
            found = chunks.getAll(keys);
        } catch (RuntimeException e) {
            LOG.debug("remote KV tier: chunk read failed, a miss: {}", e.toString());
            return null;
        }
        byte[][] v = new byte[h.chunkCount()][];
        long total = 0;
        for (int i = 0; i < h.chunkCount(); i++) {
            v[i] = found.get(chunkKey(hk, h.writeId(), i));
            if (v[i] == null) {
                return null;
            }
            total += v[i].length;
        }
        if (total != h.length() || checksum(h.writeId(), List.of(v)) != h.checksum()) {
            LOG.debug("remote KV tier: value of {} incomplete or failed its checksum: a miss", hk);
            return null;
        }
        return v;
    }

    /** A head whose chunks are gone answers EXISTS wrongly: remove it. */
    private void forgetIncomplete(String hk, Head h) {
        local.invalidate(hk);
        try {
            heads.removeAsync(hk);   // best effort; a concurrent overwrite is rare and only costs that value
        } catch (RuntimeException e) {
            LOG.debug("remote KV tier: could not remove incomplete head of {}: {}", hk, e.toString());
        }
    }

    /** Values of several keys, in order (null for each miss). */
    public List<byte[][]> getAllParts(String namespace, List<byte[]> keys) {
        List<byte[][]> out = new ArrayList<>(keys.size());
        for (byte[] k : keys) {
            out.add(getParts(namespace, k));
        }
        return out;
    }

    /** How many of {@code keys} exist (a key named twice counts twice, as in Redis). */
    public long exists(String namespace, List<byte[]> keys) {
        Set<String> distinct = new HashSet<>();
        for (byte[] k : keys) {
            distinct.add(headKey(namespace, k));
        }
        Map<String, byte[]> found;
        try {
            found = heads.getAll(distinct);
        } catch (RuntimeException e) {
            LOG.debug("remote KV tier: EXISTS failed, answering 0: {}", e.toString());
            return 0;
        }
        long n = 0;
        for (byte[] k : keys) {
            Head h = Head.parse(found.get(headKey(namespace, k)));
            if (h != null && !expired(h)) {
                n++;
            }
        }
        return n;
    }

    /** Deletes keys; returns how many existed. */
    public long delete(String namespace, List<byte[]> keys) {
        long n = 0;
        for (byte[] k : keys) {
            String hk = headKey(namespace, k);
            local.invalidate(hk);
            Head h = Head.parse(heads.remove(hk));
            if (h != null) {
                if (!expired(h)) {
                    n++;
                }
                deleteChunksOf(hk, h);
            }
        }
        return n;
    }

    private boolean expired(Head h) {
        return h.expiresAt() != 0 && clock.millis() >= h.expiresAt();
    }

    private void deleteChunksOf(String hk, Head old) {
        if (old == null) {
            return;
        }
        for (int i = 0; i < old.chunkCount(); i++) {
            chunks.deleteAsync(chunkKey(hk, old.writeId(), i));   // not waited for: a leftover chunk is only memory
        }
    }

    /** Bytes held by the local copy (for INFO). */
    public long localBytes() {
        return local.policy().eviction().map(e -> e.weightedSize().orElse(0L)).orElse(0L);
    }
}
