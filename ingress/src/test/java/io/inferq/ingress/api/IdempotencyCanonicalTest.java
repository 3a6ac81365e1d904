package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** An idempotency key compares the request's JSON, not its bytes: the same JSON written differently is the same job. */
class IdempotencyCanonicalTest {

    @Test
    void theSameJsonWithOtherWhitespaceAndKeyOrderIsTheSameJob() {
        try (IngressRig rig = new IngressRig()) {
            HttpResponse<String> first = rig.post(IngressRig.OK_BODY, IngressRig.GLOBEX, "Idempotency-Key", "order-1");
            assertThat(first.statusCode()).as(first.body()).isEqualTo(202);
            String id = new JsonObject(first.body()).getString("id");
            String respaced = "{\n  \"max_tokens\": 4.0,\n  \"messages\": [ { \"content\": \"hi\", \"role\": \"user\" } ],\n  \"model\": \"m\"\n}";
            HttpResponse<String> again = rig.post(respaced, IngressRig.GLOBEX, "Idempotency-Key", "order-1");
            assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
            assertThat(new JsonObject(again.body()).getString("id")).isEqualTo(id);
            HttpResponse<String> other = rig.post(IngressRig.OK_BODY.replace("hi", "ho"), IngressRig.GLOBEX, "Idempotency-Key", "order-1");
            assertThat(other.statusCode()).isEqualTo(409);
            assertThat(rig.requestRecords()).hasSize(1);
        }
    }
}
