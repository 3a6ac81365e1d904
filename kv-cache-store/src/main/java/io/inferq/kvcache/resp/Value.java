package io.inferq.kvcache.resp;

import java.util.zip.CRC32C;

/**
 * A value as parts: the bytes of part {@code i} are {@code arrays[i][offset ..]}. The offset is 0 for plain
 * arrays and {@link RemoteValueStore#FRAME} for parts received straight into Hazelcast's serialized form of a
 * {@code byte[]} ({@link RemoteValueStore#newPart}), which the store hands to Hazelcast without another copy.
 * Parts are never changed once the value is complete.
 */
public final class Value {

    private final byte[][] arrays;
    private final int offset;
    private final long length;

    Value(byte[][] arrays, int offset) {
        this.arrays = arrays;
        this.offset = offset;
        long n = 0;
        for (byte[] a : arrays) {
            n += a.length - offset;
        }
        this.length = n;
    }

    /** A value made of plain arrays (not copied: the caller must not change them). */
    public static Value of(byte[]... parts) {
        return new Value(parts, 0);
    }

    /** Total bytes. */
    public long length() {
        return length;
    }

    /** Number of parts. */
    public int parts() {
        return arrays.length;
    }

    /** The array holding part {@code i}; its bytes start at {@link #offset()}. */
    public byte[] array(int i) {
        return arrays[i];
    }

    /** Where each part's bytes start in its array. */
    public int offset() {
        return offset;
    }

    /** Bytes of part {@code i}. */
    public int partLength(int i) {
        return arrays[i].length - offset;
    }

    /** The bytes as one array (the part itself when there is one plain part). */
    public byte[] toArray() {
        if (arrays.length == 1 && offset == 0) {
            return arrays[0];
        }
        byte[] v = new byte[Math.toIntExact(length)];
        int at = 0;
        for (byte[] a : arrays) {
            System.arraycopy(a, offset, v, at, a.length - offset);
            at += a.length - offset;
        }
        return v;
    }

    /** CRC32C of part {@code i} (hardware-accelerated on x86 and ARM: a fraction of a copy's cost). */
    long crc(int i) {
        CRC32C c = new CRC32C();
        c.update(arrays[i], offset, arrays[i].length - offset);
        return c.getValue();
    }
}
