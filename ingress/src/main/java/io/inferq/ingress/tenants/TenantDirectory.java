package io.inferq.ingress.tenants;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Looks tenants up by API key. With no configured tenant the directory is <em>open</em>: every request
 * without a key is tenant {@code default}. Any configured tenant turns authentication on.
 * Immutable and thread-safe.
 */
public final class TenantDirectory {
    private final Map<String, Tenant> byKey = new HashMap<>();
    private final Map<String, Tenant> byId = new HashMap<>();
    private final Tenant openTenant;

    public TenantDirectory(List<Tenant> tenants, Tenant openTenant) {
        for (Tenant t : tenants) {
            if (byId.put(t.id(), t) != null) {
                throw new IllegalArgumentException("tenants: id '" + t.id() + "' is configured twice");
            }
            for (String key : t.apiKeys()) {
                if (byKey.put(key, t) != null) {
                    throw new IllegalArgumentException("tenants: an API key of '" + t.id() + "' is also used by another tenant");
                }
            }
            if (t.apiKeys().isEmpty()) {
                throw new IllegalArgumentException("tenants[" + t.id() + "].api-keys must list at least one key");
            }
        }
        this.openTenant = tenants.isEmpty() ? openTenant : null;
        if (this.openTenant != null) {
            byId.put(openTenant.id(), openTenant);
        }
    }

    /** @return whether requests need an API key */
    public boolean authenticationRequired() {
        return openTenant == null;
    }

    /** @param authorization the {@code Authorization} header, may be null */
    public Optional<Tenant> authenticate(String authorization) {
        if (openTenant != null) {
            return Optional.of(openTenant);
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Optional.empty();
        }
        return Optional.ofNullable(byKey.get(authorization.substring(7).trim()));
    }

    public Optional<Tenant> byId(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /** Authenticates a Kafka producer's {@code inferq-tenant} + {@code inferq-api-key} headers. */
    public Optional<Tenant> authenticate(String tenantId, String apiKey) {
        if (openTenant != null) {
            return tenantId == null || tenantId.equals(openTenant.id()) ? Optional.of(openTenant) : Optional.empty();
        }
        Tenant t = apiKey == null ? null : byKey.get(apiKey);
        return t != null && t.id().equals(tenantId) ? Optional.of(t) : Optional.empty();
    }
}
