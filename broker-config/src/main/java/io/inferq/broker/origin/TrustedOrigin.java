package io.inferq.broker.origin;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Marks request records that inferq itself wrote (the HTTP ingress, a worker handing a job back) so
 * the dispatcher can tell them from records of external producers on the same topic, which must
 * authenticate with tenant headers. A header alone would be forgeable by any producer, so the mark
 * is an HMAC-SHA256 of the record value:
 *
 * <pre>
 * inferq-origin:           ingress | worker
 * inferq-origin-signature: base64url(HMAC-SHA256(key, value bytes)), no padding
 * </pre>
 *
 * <p>The key is derived from the configured tenants' API keys (every inferq process of a deployment
 * has the same tenant configuration, and no single tenant knows all keys), or given explicitly with
 * {@link #withSecret}. With no tenant configured (open mode) the key is a public constant: nothing
 * is authenticated in open mode, so there is nothing to forge. Changing the API keys changes the key:
 * records signed before the change and not yet consumed are then treated as external records.
 *
 * <p>Immutable and thread-safe ({@link Mac} instances are created per call).
 */
public final class TrustedOrigin {
    public static final String ORIGIN_HEADER = "inferq-origin";
    public static final String SIGNATURE_HEADER = "inferq-origin-signature";
    public static final String INGRESS = "ingress";
    public static final String WORKER = "worker";
    private static final String ALGORITHM = "HmacSHA256";

    private final SecretKeySpec key;

    private TrustedOrigin(byte[] key) {
        this.key = new SecretKeySpec(key, ALGORITHM);
    }

    /** @param secret at least 16 bytes shared by every inferq process of the deployment */
    public static TrustedOrigin withSecret(byte[] secret) {
        if (secret == null || secret.length < 16) {
            throw new IllegalArgumentException("the origin secret must have at least 16 bytes");
        }
        return new TrustedOrigin(secret.clone());
    }

    /** @param apiKeysByTenant tenant id → its API keys, as configured; empty in open mode */
    public static TrustedOrigin forTenants(Map<String, ? extends Collection<String>> apiKeysByTenant) {
        StringBuilder material = new StringBuilder("inferq-origin-v1\n");
        new TreeMap<>(apiKeysByTenant).forEach((tenant, keys) -> {
            List<String> sorted = new ArrayList<>(keys);
            sorted.sort(null);
            sorted.forEach(k -> material.append(tenant).append('\u0000').append(k).append('\n'));
        });
        try {
            return new TrustedOrigin(MessageDigest.getInstance("SHA-256").digest(material.toString().getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** @return the signature of a record value */
    public String sign(byte[] value) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(mac(value));
    }

    /** Adds both headers for a record that {@code origin} ({@link #INGRESS} or {@link #WORKER}) writes. */
    public void mark(Headers headers, String origin, byte[] value) {
        headers.remove(ORIGIN_HEADER);
        headers.remove(SIGNATURE_HEADER);
        headers.add(ORIGIN_HEADER, origin.getBytes(StandardCharsets.UTF_8));
        headers.add(SIGNATURE_HEADER, sign(value).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * @return {@link Verdict#EXTERNAL} without an origin header, the verified origin, or
     *         {@link Verdict#FORGED} when the header is present but the signature is missing or wrong
     */
    public Verdict verify(Headers headers, byte[] value) {
        Header origin = headers.lastHeader(ORIGIN_HEADER);
        if (origin == null) {
            return Verdict.EXTERNAL;
        }
        Header sig = headers.lastHeader(SIGNATURE_HEADER);
        if (sig == null || sig.value() == null || value == null) {
            return Verdict.FORGED;
        }
        byte[] claimed;
        try {
            claimed = Base64.getUrlDecoder().decode(sig.value());
        } catch (IllegalArgumentException e) {
            return Verdict.FORGED;
        }
        if (!MessageDigest.isEqual(claimed, mac(value))) {
            return Verdict.FORGED;
        }
        String o = origin.value() == null ? "" : new String(origin.value(), StandardCharsets.UTF_8);
        return switch (o) {
            case INGRESS -> Verdict.INGRESS;
            case WORKER -> Verdict.WORKER;
            default -> Verdict.FORGED;
        };
    }

    /** What {@link #verify} found. */
    public enum Verdict {
        /** no origin header: an external producer's record */
        EXTERNAL,
        /** written by the HTTP ingress */
        INGRESS,
        /** handed back by a worker */
        WORKER,
        /** claims an inferq origin without a valid signature */
        FORGED
    }

    private byte[] mac(byte[] value) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            return mac.doFinal(value == null ? new byte[0] : value);
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }
}
