package io.inferq.ingress.console;

import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * Who is looking at the console, from the same {@code Authorization: Bearer <key>} header as the API: the operator
 * (key {@code http.operator-key}) sees every tenant; a tenant's key sees that tenant's jobs, deliveries and queued
 * tokens. Without configured tenants the process is open and every caller is the operator (there is only tenant
 * {@code default}).
 *
 * @param tenant the caller's tenant; for the operator, the open tenant or null
 */
record ConsoleScope(boolean operator, Tenant tenant) {

    /** @return the tenant whose data this scope is limited to, or null for every tenant */
    public String tenantFilter() {
        return operator ? null : tenant.id();
    }

    /** Resolves a caller; empty when the key is missing or wrong. Thread-safe, constant time for the operator key. */
    public static Optional<ConsoleScope> resolve(String authorization, String operatorKey, TenantDirectory tenants) {
        if (operatorKey != null && authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                && MessageDigest.isEqual(authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8),
                        operatorKey.getBytes(StandardCharsets.UTF_8))) {
            return Optional.of(new ConsoleScope(true, null));
        }
        Optional<Tenant> t = tenants.authenticate(authorization);
        if (t.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new ConsoleScope(!tenants.authenticationRequired(), t.get()));
    }
}
