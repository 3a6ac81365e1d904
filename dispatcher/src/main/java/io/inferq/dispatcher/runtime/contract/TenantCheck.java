package io.inferq.dispatcher.runtime.contract;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Authenticates the {@code inferq-tenant} + {@code inferq-api-key} headers of a request record.
 * Implementations are thread-safe and must not block (the dispatcher calls them for every record).
 */
@FunctionalInterface
interface TenantCheck {
    /** The tenant of every request when no tenant is configured. */
    String OPEN_TENANT = "default";

    /**
     * @param tenant the {@code inferq-tenant} header, or null
     * @param apiKey the {@code inferq-api-key} header, or null
     * @return the authenticated tenant id, or empty when the pair is unknown or wrong
     */
    Optional<String> authenticate(String tenant, String apiKey);

    /**
     * Checks against configured tenants; with none configured, open mode: a record without a tenant
     * header (or naming {@code default}) is tenant {@code default}, and any other tenant is refused.
     *
     * @param apiKeysByTenant tenant id → its API keys
     */
    static TenantCheck of(Map<String, ? extends Collection<String>> apiKeysByTenant) {
        if (apiKeysByTenant.isEmpty()) {
            return (tenant, apiKey) -> tenant == null || tenant.equals(OPEN_TENANT) ? Optional.of(OPEN_TENANT) : Optional.empty();
        }
        Map<String, List<byte[]>> keys = new HashMap<>();
        apiKeysByTenant.forEach((tenant, list) -> {
            if (list.isEmpty()) {
                throw new IllegalArgumentException("tenants[" + tenant + "].api-keys must list at least one key");
            }
            keys.put(tenant, list.stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toList());
        });
        return (tenant, apiKey) -> {
            List<byte[]> known = tenant == null ? null : keys.get(tenant);
            if (known == null || apiKey == null) {
                return Optional.empty();
            }
            byte[] given = apiKey.getBytes(StandardCharsets.UTF_8);
            boolean match = false;
            for (byte[] k : known) {
                match |= MessageDigest.isEqual(k, given); // constant time per key, no early exit
            }
            return match ? Optional.of(tenant) : Optional.empty();
        };
    }
}
