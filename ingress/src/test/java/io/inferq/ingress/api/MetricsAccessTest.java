package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.ingress.OperatorAccess;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** With tenants configured, {@code /metrics} (it names tenants) answers only the operator key, not a tenant's key. */
class MetricsAccessTest {
    static IngressRig rig;

    @BeforeAll
    static void start() {
        rig = new IngressRig();
    }

    @AfterAll
    static void stop() {
        rig.close();
    }

    @Test
    void metricsNeedTheOperatorKey() {
        HttpResponse<String> none = rig.http("GET", "/metrics", null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.body()).doesNotContain("acme");
        assertThat(new JsonObject(none.body()).getJsonObject("error").getString("code")).isEqualTo("operator_key_required");
        HttpResponse<String> tenant = rig.http("GET", "/metrics", null, "Authorization", IngressRig.ACME);
        assertThat(tenant.statusCode()).isEqualTo(401);
        assertThat(tenant.body()).doesNotContain("inferq_x");
        HttpResponse<String> operator = rig.http("GET", "/metrics", null, "Authorization", "Bearer " + IngressRig.OPERATOR_KEY);
        assertThat(operator.statusCode()).isEqualTo(200);
        assertThat(operator.body()).contains("inferq_x");
        assertThat(rig.http("GET", "/health", null).statusCode()).as("liveness stays open").isEqualTo(200);
    }

    @Test
    void accessRules() {
        assertThat(OperatorAccess.OPEN.allows(null)).isTrue();
        OperatorAccess noKey = new OperatorAccess(null, true);
        assertThat(noKey.allows(null)).isFalse();
        assertThat(noKey.allows("Bearer ")).isFalse();
        OperatorAccess keyed = new OperatorAccess("0123456789abcdef", false);
        assertThat(keyed.required()).as("a configured key is always required").isTrue();
        assertThat(keyed.allows("Bearer 0123456789abcdef")).isTrue();
        assertThat(keyed.allows("bearer 0123456789abcdef")).isTrue();
        assertThat(keyed.allows("Bearer 0123456789abcdeg")).isFalse();
        assertThat(keyed.allows("0123456789abcdef")).isFalse();
    }
}
