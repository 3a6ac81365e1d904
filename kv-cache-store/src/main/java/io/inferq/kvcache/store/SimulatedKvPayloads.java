package io.inferq.kvcache.store;

import io.inferq.kvcache.KvFormat;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Deterministic stand-in for real KV bytes, for the simulated backend: the payload of a block is a
 * pseudo-random stream seeded by {@code blockHash ^ formatFingerprint}, so any reader can regenerate and
 * check it, and bytes for two formats differ. Stateless and thread-safe.
 */
public final class SimulatedKvPayloads {

    private SimulatedKvPayloads() {
    }

    /** {@code size} deterministic bytes for ({@code format}, {@code blockHash}). */
    public static byte[] generate(KvFormat format, long blockHash, int size) {
        Objects.requireNonNull(format, "format must not be null");
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative, was " + size);
        }
        byte[] out = new byte[size];
        new SplittableRandom(blockHash ^ format.fingerprint()).nextBytes(out);
        return out;
    }

    /** Whether {@code payload} is exactly what {@link #generate} makes for this block. */
    public static boolean matches(KvFormat format, long blockHash, byte[] payload) {
        return Arrays.equals(payload, generate(format, blockHash, payload.length));
    }
}
