package io.inferq.kvcache.resp;

import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.internal.serialization.impl.HeapData;
import com.hazelcast.map.IMap;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
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
 * A local copy ({@link LocalValueCache}: least recently used out, bounded by value bytes; written on every
 * {@code set}, so a read right after this process's own write is served locally) sits in front of two Hazelcast
 * maps shared by every inferq process of the cluster:
 * <ul>
 *   <li>{@code <name>.heads}: namespaced key → a 36-byte head {@code [int magic][int length][int chunkCount]
 *       [long writeId][long checksum][long expiresAtMillis]}, followed by the value itself when it is small
 *       (≤ the chunk size: chunk count 0), else by one placement byte per chunk;</li>
 *   <li>{@code <name>.chunks}: {@code key + writeId + index + placement} → at most {@code chunkBytes} of the
 *       value, so no Hazelcast entry of an 18 MB value is a G1 humongous object.</li>
 * </ul>
 * The placement byte of a chunk is chosen by the writing member so that the chunk's key falls in a partition that
 * member owns: the primary copy stays in the writer's process (only the backup crosses the network), and the
 * writer's own later reads, LMCache's usual pattern, are served by its own member. Any process can still read
 * the value: the head names every chunk's key. (On a Hazelcast client, or when ownership has moved since, the
 * chunks are simply elsewhere.)
 * A write stores its chunks under a fresh random {@code writeId}, then replaces the head, then deletes the
 * chunks of the head it replaced. A read takes the head (one small round trip), serves the local copy when it
 * belongs to that same write, and otherwise fetches the chunks of that write and checks their checksum
 * (XXH3, seeded with the write id, over each chunk's CRC32C): a missing chunk (evicted, member lost, overwritten
 * meanwhile) or a mismatch is a miss, never other bytes. Both maps are bounded by bytes per member ({@link MaxSizePolicy#USED_HEAP_SIZE},
 * LRU) and keep {@code backupCount} backups; a value whose chunks were evicted loses its head on the next read.
 *
 * <p>Chunks received by the Redis front end arrive already in Hazelcast's serialized form of a {@code byte[]}
 * ({@link #newPart}: a {@value #FRAME}-byte header before the bytes), so a write hands them to Hazelcast as
 * they are instead of having Hazelcast copy each chunk into a growing output buffer and out again; the chunk
 * writes of one value go out together ({@code setAllAsync}) and the checksum is computed while they travel.
 *
 * <p>Expiry is decided by the injected {@link Clock} (the head's {@code expiresAtMillis}); Hazelcast's own
 * per-entry TTL (a minute longer) only reclaims the memory.
 *
 * <p>Thread-safe. Every method blocks on Hazelcast: call it from a worker thread, never an event loop.
 * Hazelcast failures propagate as runtime exceptions from writes; reads turn them into misses.
 */
public final class RemoteValueStore {

    /** "RES2": heads whose checksum is over the chunks' CRC32C (an earlier format's heads read as misses). */
    static final int MAGIC = 0x52455332;
    /**
     * Bytes before a part's payload in a framed part ({@link #newPart}): Hazelcast's serialized {@code byte[]}
     * ({@code [int partitionHash = 0][int typeId = -12][int length]}, big-endian), as its {@code HeapData} holds it.
     */
    public static final int FRAME = 12;
    private static final int BYTE_ARRAY_TYPE = -12;
    static final int HEAD_BYTES = 36;
    /** Hazelcast keeps an expiring entry this much longer than its expiry (reads decide by the clock). */
    static final long TTL_GRACE_MILLIS = 60_000;

    private static final Logger LOG = LoggerFactory.getLogger(RemoteValueStore.class);

    private final IMap<String, byte[]> heads;
    private final IMap<String, Object> chunks;   // byte[] values; written as framed HeapData
    private final HazelcastInstance hazelcast;
    private final Member self;                    // null on a Hazelcast client
    private final int chunkBytes;
    private final Clock clock;
    private final LocalValueCache<LocalCopy> local;

    private record LocalCopy(long writeId, Value value) {
    }

    /** A value and, when it has one, its expiry (epoch millis, 0 = none). */
    private record Head(int length, int chunkCount, long writeId, long checksum, long expiresAt, byte[] raw) {
        static Head parse(byte[] raw) {
            if (raw == null || raw.length < HEAD_BYTES) {
                return null;
            }
            ByteBuffer b = ByteBuffer.wrap(raw);
            if (b.getInt(0) != MAGIC || b.getInt(8) < 0 || raw.length < HEAD_BYTES + b.getInt(8)) {
                return null;
            }
            return new Head(b.getInt(4), b.getInt(8), b.getLong(12), b.getLong(20), b.getLong(28), raw);
        }

        /** Placement byte of chunk {@code i}. */
        int placement(int i) {
            return raw[HEAD_BYTES + i] & 0xff;
        }

        String chunkKey(String hk, int i) {
            return RemoteValueStore.chunkKey(hk, writeId, i, placement(i));
        }
    }

    private RemoteValueStore(HazelcastInstance hazelcast, IMap<String, byte[]> heads, IMap<String, Object> chunks,
                             int chunkBytes, long localBytes, Clock clock) {
        this.hazelcast = hazelcast;
        this.self = hazelcast.getLocalEndpoint() instanceof Member m ? m : null;
        this.heads = heads;
        this.chunks = chunks;
        this.chunkBytes = chunkBytes;
        this.clock = clock;
        this.local = new LocalValueCache<>(localBytes, v -> v.value().length());
    }

    /**
     * Adds the two maps' configuration to {@code hazelcast} (a member: dynamic configuration; idempotent for
     * the same settings) and returns a store on them.
     *
     * @param name            map name prefix ({@code <name>.heads}, {@code <name>.chunks})
     * @param chunkBytes      largest Hazelcast value, 1 KiB – 384 KiB
     * @param sharedMegabytes per-member bound of the chunk map in MiB (the head map gets a sixteenth, at least 16)
     * @param backupCount     Hazelcast backups of each entry, 0-6
     * @param localBytes      bytes of the local copy (0 = none)
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
        return new RemoteValueStore(hazelcast, hazelcast.getMap(name + ".heads"), hazelcast.getMap(name + ".chunks"),
                chunkBytes, localBytes, clock);
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

    static String chunkKey(String headKey, long writeId, int index, int placement) {
        return headKey + '\u0000' + Long.toHexString(writeId) + ':' + index + '/' + placement;
    }

    /** Tries of {@link #placement}: with n members, a try lands on this member's partitions with odds 1/n. */
    private static final int PLACEMENT_TRIES = 64;

    /**
     * The placement byte that puts chunk {@code index} of this write in a partition this member owns (0 when none
     * does within {@value #PLACEMENT_TRIES} tries, or on a client).
     */
    private int placement(String hk, long writeId, int index) {
        if (self == null) {
            return 0;
        }
        try {
            for (int p = 0; p < PLACEMENT_TRIES; p++) {
                Member owner = hazelcast.getPartitionService().getPartition(chunkKey(hk, writeId, index, p)).getOwner();
                if (self.equals(owner)) {
                    return p;
                }
            }
        } catch (RuntimeException e) {
            LOG.debug("remote KV tier: partition table unavailable, chunk placed by its hash: {}", e.toString());
        }
        return 0;
    }

    /** The largest part {@link #set} stores as one Hazelcast entry. */
    public int chunkBytes() {
        return chunkBytes;
    }

    /**
     * A part of {@code payloadBytes} (at most {@link #chunkBytes()}) to be filled from index {@link #FRAME} on and
     * passed to {@link #set} in a {@link Value} of offset {@link #FRAME}.
     */
    public static byte[] newPart(int payloadBytes) {
        byte[] a = new byte[FRAME + payloadBytes];
        ByteBuffer.wrap(a).putInt(0, 0).putInt(4, BYTE_ARRAY_TYPE).putInt(8, payloadBytes);
        return a;
    }

    /** XXH3, seeded with the write id, over the parts' CRC32C. */
    static long checksum(long writeId, Value value) {
        long[] each = new long[value.parts()];
        for (int i = 0; i < each.length; i++) {
            each[i] = value.crc(i);
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
    public void set(String namespace, byte[] key, Value value, long ttlMillis) {
        String hk = headKey(namespace, key);
        long writeId;
        do {
            writeId = ThreadLocalRandom.current().nextLong();
        } while (writeId == 0);
        long length = value.length();
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("value larger than 2 GiB");
        }
        if (value.offset() != 0 && value.offset() != FRAME) {
            throw new IllegalArgumentException("parts must be plain or framed, offset was " + value.offset());
        }
        for (int i = 0; i < value.parts(); i++) {
            if (value.partLength(i) > chunkBytes) {
                throw new IllegalArgumentException("part of " + value.partLength(i) + " bytes is larger than the chunk size "
                        + chunkBytes);
            }
        }
        long expiresAt = ttlMillis > 0 ? clock.millis() + ttlMillis : 0;
        boolean inline = value.parts() <= 1;
        int count = inline ? 0 : value.parts();
        long hzTtl = ttlMillis > 0 ? ttlMillis + TTL_GRACE_MILLIS : 0;
        CompletableFuture<Void> written = CompletableFuture.completedFuture(null);
        byte[] placements = new byte[0];
        if (!inline) {
            // one operation per chunk, all in flight together: a batch (setAllAsync) would become one operation per
            // member holding half the value, serialized into a growing buffer of megabytes (humongous arrays)
            CompletableFuture<?>[] writes = new CompletableFuture<?>[count];
            placements = new byte[count];
            for (int i = 0; i < count; i++) {
                // a framed part is already Hazelcast's serialized byte[]: handed over as is, not copied again
                Object chunk = value.offset() == FRAME ? new HeapData(value.array(i)) : value.array(i);
                int placement = placement(hk, writeId, i);
                placements[i] = (byte) placement;
                String ck = chunkKey(hk, writeId, i, placement);
                writes[i] = (hzTtl > 0 ? chunks.setAsync(ck, chunk, hzTtl, TimeUnit.MILLISECONDS) : chunks.setAsync(ck, chunk))
                        .toCompletableFuture();
            }
            written = CompletableFuture.allOf(writes);
        }
        long checksum = checksum(writeId, value);   // while the chunks travel
        written.join();
        byte[] only = inline && value.parts() == 1 ? value.toArray() : new byte[0];
        ByteBuffer head = ByteBuffer.allocate(HEAD_BYTES + (inline ? only.length : count));
        head.putInt(MAGIC).putInt((int) length).putInt(count).putLong(writeId).putLong(checksum).putLong(expiresAt);
        head.put(inline ? only : placements);
        byte[] old = hzTtl > 0 ? heads.put(hk, head.array(), hzTtl, TimeUnit.MILLISECONDS) : heads.put(hk, head.array());
        if (keepsLocalCopies()) {
            local.put(hk, new LocalCopy(writeId, value));
        }
        deleteChunksOf(hk, Head.parse(old));
    }

    /** {@link #set} of one array (split into chunks here). */
    public void set(String namespace, byte[] key, byte[] value, long ttlMillis) {
        set(namespace, key, Value.of(split(value)), ttlMillis);
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
        return local.enabled();
    }

    /** The value as one array, or null (see {@link #getValue}). */
    public byte[] get(String namespace, byte[] key) {
        Value v = getValue(namespace, key);
        return v == null ? null : v.toArray();
    }

    /**
     * The value (the caller must not change its parts), or null when absent, expired, incomplete or unreadable.
     */
    public Value getValue(String namespace, byte[] key) {
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
            Value v = Value.of(java.util.Arrays.copyOfRange(h.raw(), HEAD_BYTES, h.raw().length));
            return v.length() == h.length() && checksum(h.writeId(), v) == h.checksum() ? v : null;
        }
        LocalCopy copy = local.get(hk);
        if (copy != null && copy.writeId() == h.writeId()) {
            return copy.value();
        }
        Value v = readChunks(hk, h);
        if (v == null) {
            forgetIncomplete(hk, h);
            return null;
        }
        if (keepsLocalCopies()) {
            local.put(hk, new LocalCopy(h.writeId(), v));
        }
        return v;
    }

    private Value readChunks(String hk, Head h) {
        if (h.length() < 0 || h.chunkCount() < 1 || (long) h.chunkCount() * chunkBytes < h.length()) {
            return null;
        }
        // one get per chunk, all in flight together (not getAll: see set)
        List<CompletableFuture<Object>> reads = new ArrayList<>(h.chunkCount());
        for (int i = 0; i < h.chunkCount(); i++) {
            reads.add(chunks.getAsync(h.chunkKey(hk, i)).toCompletableFuture());
        }
        byte[][] v = new byte[h.chunkCount()][];
        long total = 0;
        boolean complete = true;
        for (int i = 0; i < v.length; i++) {
            Object part;
            try {
                part = reads.get(i).join();
            } catch (RuntimeException e) {
                LOG.debug("remote KV tier: chunk read failed, a miss: {}", e.toString());
                part = null;
            }
            if (part instanceof byte[] bytes) {
                v[i] = bytes;
                total += bytes.length;
            } else {
                complete = false;   // go on waiting for the others: nothing is left running behind a miss
            }
        }
        if (!complete) {
            return null;
        }
        Value value = Value.of(v);
        if (total != h.length() || checksum(h.writeId(), value) != h.checksum()) {
            LOG.debug("remote KV tier: value of {} incomplete or failed its checksum: a miss", hk);
            return null;
        }
        return value;
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
    public List<Value> getAll(String namespace, List<byte[]> keys) {
        List<Value> out = new ArrayList<>(keys.size());
        for (byte[] k : keys) {
            out.add(getValue(namespace, k));
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
            chunks.deleteAsync(old.chunkKey(hk, i));   // not waited for: a leftover chunk is only memory
        }
    }

    /** Bytes held by the local copy (for INFO). */
    public long localBytes() {
        return local.bytes();
    }
}
