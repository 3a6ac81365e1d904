package io.inferq.ingress.console;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConsoleScopeTest {
    private static final Tenant ACME = new Tenant("acme", List.of("acme-key"), 10, 4096, 10, List.of(), null);
    private static final TenantDirectory TENANTS = new TenantDirectory(List.of(ACME), Tenant.openDefault("whsec_x"));

    @Test
    void theOperatorKeySeesEveryTenantATenantKeyOnlyItsOwn() {
        ConsoleScope op = ConsoleScope.resolve("Bearer operator-key-123", "operator-key-123", TENANTS).orElseThrow();
        assertThat(op.operator()).isTrue();
        assertThat(op.tenantFilter()).isNull();
        ConsoleScope acme = ConsoleScope.resolve("Bearer acme-key", "operator-key-123", TENANTS).orElseThrow();
        assertThat(acme.operator()).isFalse();
        assertThat(acme.tenantFilter()).isEqualTo("acme");
    }

    @Test
    void aWrongMissingOrUnconfiguredKeyIsRefused() {
        assertThat(ConsoleScope.resolve(null, "operator-key-123", TENANTS)).isEmpty();
        assertThat(ConsoleScope.resolve("Bearer nope", "operator-key-123", TENANTS)).isEmpty();
        assertThat(ConsoleScope.resolve("Bearer operator-key-12", "operator-key-123", TENANTS)).isEmpty();
        assertThat(ConsoleScope.resolve("Bearer operator-key-123", null, TENANTS)).isEmpty();
    }

    @Test
    void anOpenProcessTreatsEveryCallerAsTheOperator() {
        TenantDirectory open = new TenantDirectory(List.of(), Tenant.openDefault("whsec_x"));
        ConsoleScope s = ConsoleScope.resolve(null, null, open).orElseThrow();
        assertThat(s.operator()).isTrue();
        assertThat(s.tenant().id()).isEqualTo("default");
    }
}
