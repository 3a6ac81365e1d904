package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.AlphaChars;
import org.junit.jupiter.api.Test;

class WebhookSignerTest {

    /** The published Standard Webhooks test vector (standard-webhooks libraries' tests). */
    @Test
    void matchesThePinnedStandardWebhooksVector() {
        var signer = new WebhookSigner(List.of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        String sig = signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330L,
                "{\"test\": 2432232314}".getBytes(StandardCharsets.UTF_8));
        assertThat(sig).isEqualTo("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    @Test
    void rotationSendsOneSignaturePerSecretCurrentFirst() {
        String a = "whsec_" + Base64.getEncoder().encodeToString("first-secret-key".getBytes(StandardCharsets.UTF_8));
        String b = "whsec_" + Base64.getEncoder().encodeToString("second-secret-key".getBytes(StandardCharsets.UTF_8));
        byte[] body = "{\"type\":\"job.completed\"}".getBytes(StandardCharsets.UTF_8);
        String header = new WebhookSigner(List.of(a, b)).sign("msg_1", 1700000000L, body);
        String[] parts = header.split(" ");
        assertThat(parts).containsExactly(independent(a, "msg_1", 1700000000L, body), independent(b, "msg_1", 1700000000L, body));
    }

    @Property(tries = 200)
    void agreesWithAnIndependentHmac(@ForAll @AlphaChars String id, @ForAll long ts, @ForAll byte[] body, @ForAll byte[] key) {
        if (key.length == 0) {
            return;
        }
        String secret = "whsec_" + Base64.getEncoder().encodeToString(key);
        assertThat(new WebhookSigner(List.of(secret)).sign(id, ts, body)).isEqualTo(independent(secret, id, ts, body));
    }

    @Test
    void refusesSecretsThatAreNotWhsecBase64() {
        assertThatThrownBy(() -> new WebhookSigner(List.of("sk_abc"))).hasMessageContaining("whsec_");
        assertThatThrownBy(() -> new WebhookSigner(List.of("whsec_not base64!"))).hasMessageContaining("base64");
        assertThatThrownBy(() -> new WebhookSigner(List.of())).hasMessageContaining("at least one");
    }

    /** Written from the spec, not from the production code: concatenate as text, HMAC, base64. */
    static String independent(String secret, String id, long ts, byte[] body) {
        try {
            byte[] key = Base64.getDecoder().decode(secret.split("_", 2)[1]);
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            byte[] signed = new byte[0];
            byte[] head = (id + "." + ts + ".").getBytes(StandardCharsets.UTF_8);
            signed = java.util.Arrays.copyOf(head, head.length + body.length);
            System.arraycopy(body, 0, signed, head.length, body.length);
            return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(signed));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
