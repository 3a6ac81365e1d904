package io.inferq.kvcache.hashing;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import net.openhft.hashing.LongHashFunction;

/**
 * The XXH3 seed of every block hash of one (model, tokenizer, tenant cache salt).
 *
 * <p>Derivation (version 1, stable across JVMs):
 * <pre>
 * seed = XXH3_64(UTF-8("inferq-kv-seed/v1" + '\0' + model + '\0' + tokenizer + '\0' + cacheSalt), seed = 0)
 * </pre>
 * Including the model and tokenizer keeps token ids of different vocabularies apart. Including the
 * tenant's cache salt means two tenants with the same prompt get unrelated hashes, so one tenant can
 * neither find nor time another's cached prefix. The salt is a secret of the tenant (or
 * {@code ""} for a deployment that deliberately shares prefixes across tenants, e.g. a common system
 * prompt). Fields must not contain {@code '\0'}, so the concatenation is unambiguous.
 *
 * @param value the seed passed to XXH3
 */
public record HashSeed(long value) {

    private static final LongHashFunction DERIVE = LongHashFunction.xx3(0L);

    /**
     * Derives the seed; see the class comment.
     *
     * @throws IllegalArgumentException if a field is blank (salt may be empty) or contains NUL
     */
    public static HashSeed derive(String model, String tokenizer, String cacheSalt) {
        check(model, "model", false);
        check(tokenizer, "tokenizer", false);
        check(cacheSalt, "cacheSalt", true);
        String canonical = "inferq-kv-seed/v1\0" + model + '\0' + tokenizer + '\0' + cacheSalt;
        return new HashSeed(DERIVE.hashBytes(canonical.getBytes(StandardCharsets.UTF_8)));
    }

    private static void check(String value, String field, boolean mayBeEmpty) {
        Objects.requireNonNull(value, field + " must not be null");
        if (!mayBeEmpty && value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(field + " must not contain NUL characters");
        }
    }

    @Override
    public String toString() {
        // the seed is derived from a tenant secret: do not print it whole
        return "HashSeed[" + Long.toHexString(value >>> 48) + "…]";
    }
}
