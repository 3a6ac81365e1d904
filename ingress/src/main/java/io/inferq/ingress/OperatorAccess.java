package io.inferq.ingress;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Who may read operator endpoints ({@code /metrics}: it names tenants). With tenants configured, only a caller that
 * sends {@code Authorization: Bearer <http.operator-key>}; with no tenant (open mode, loopback by default) anyone,
 * unless an operator key is set. Immutable and thread-safe; the key comparison takes the same time wherever the
 * first difference is.
 *
 * @param operatorKey the operator key, or null when none is configured
 * @param required    whether operator endpoints need the key (true when tenants are configured or a key is set)
 */
public record OperatorAccess(String operatorKey, boolean required) {
    /** Anyone may read operator endpoints. */
    public static final OperatorAccess OPEN = new OperatorAccess(null, false);

    public OperatorAccess {
        if (operatorKey != null && operatorKey.length() < 12) {
            throw new IllegalArgumentException("http.operator-key must be at least 12 characters");
        }
        required = required || operatorKey != null;
    }

    /** @param authorization the {@code Authorization} header, or null */
    public boolean allows(String authorization) {
        if (!required) {
            return true;
        }
        if (operatorKey == null || authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        return MessageDigest.isEqual(authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8),
                operatorKey.getBytes(StandardCharsets.UTF_8));
    }
}
