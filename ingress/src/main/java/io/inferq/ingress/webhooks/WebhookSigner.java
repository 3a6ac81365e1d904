package io.inferq.ingress.webhooks;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.StringJoiner;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs webhook requests as Standard Webhooks 1.0 does: {@code webhook-signature: v1,<base64 HMAC-SHA256>}
 * over {@code <webhook-id>.<webhook-timestamp>.<body>}, keyed by the base64-decoded part of a
 * {@code whsec_<base64>} secret. With several secrets (rotation) one {@code v1,...} per secret is sent,
 * separated by spaces; a receiver accepts the request if any one matches a secret it holds.
 *
 * <p>Immutable and thread-safe (a {@link Mac} is created per call).
 */
final class WebhookSigner {
    public static final String ID_HEADER = "webhook-id";
    public static final String TIMESTAMP_HEADER = "webhook-timestamp";
    public static final String SIGNATURE_HEADER = "webhook-signature";

    private static final String PREFIX = "whsec_";
    private final List<byte[]> keys;

    /**
     * @param secrets {@code whsec_<base64>} secrets, the current one first, at least one
     * @throws IllegalArgumentException when a secret is not {@code whsec_} followed by base64
     */
    public WebhookSigner(List<String> secrets) {
        if (secrets == null || secrets.isEmpty()) {
            throw new IllegalArgumentException("at least one webhook secret is needed to sign");
        }
        List<byte[]> k = new ArrayList<>();
        for (String s : secrets) {
            k.add(keyOf(s));
        }
        this.keys = List.copyOf(k);
    }

    /** @return the HMAC key of a {@code whsec_<base64>} secret */
    static byte[] keyOf(String secret) {
        if (secret == null || !secret.startsWith(PREFIX)) {
            throw new IllegalArgumentException("a webhook secret must start with whsec_");
        }
        byte[] key;
        try {
            key = Base64.getDecoder().decode(secret.substring(PREFIX.length()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("a webhook secret must be whsec_ followed by base64: " + e.getMessage());
        }
        if (key.length == 0) {
            throw new IllegalArgumentException("a webhook secret must not be empty after whsec_");
        }
        return key;
    }

    /**
     * @param msgId            the {@code webhook-id}
     * @param timestampSeconds the {@code webhook-timestamp} (Unix seconds)
     * @param body             the exact request body bytes
     * @return the {@code webhook-signature} header value: space-separated {@code v1,<base64>}, one per secret
     */
    public String sign(String msgId, long timestampSeconds, byte[] body) {
        byte[] prefix = (msgId + "." + timestampSeconds + ".").getBytes(StandardCharsets.UTF_8);
        StringJoiner out = new StringJoiner(" ");
        for (byte[] key : keys) {
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(new SecretKeySpec(key, "HmacSHA256"));
                mac.update(prefix);
                mac.update(body);
                out.add("v1," + Base64.getEncoder().encodeToString(mac.doFinal()));
            } catch (NoSuchAlgorithmException | InvalidKeyException e) {
                throw new IllegalStateException("HmacSHA256 unavailable", e); // every JDK has it
            }
        }
        return out.toString();
    }
}
