package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.ingress.HttpLimits;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The hostile-input corpus of the HTTP entry point: every row of the README's error table and every probe of the
 * attack run that found issue 13, each sent on its own connection. Each asserts the exact status and
 * {@code error.code} in the OpenAI shape ({@code {error: {type, code, message, param}}}), that nothing was written to
 * Kafka (no job created), and that another tenant is served meanwhile.
 */
class HostileHttpCorpusTest {
    static IngressRig rig;
    static String acmeJob;
    private static final String M = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";

    /** One probe: who sends what, and the exact refusal expected. */
    record Probe(String name, String tenant, String method, String path, byte[] body, String[] headers, int status, String code) {
        @Override
        public String toString() {
            return name + " -> " + status + " " + code;
        }
    }

    private static Probe body(String name, String json, int status, String code, String... headers) {
        return new Probe(name, IngressRig.GLOBEX, "POST", "/v1/jobs", json.getBytes(StandardCharsets.UTF_8), headers, status, code);
    }

    private static Probe field(String name, String extra, String code) {
        return body(name, M + "," + extra + "}", 400, code);
    }

    static Stream<Probe> corpus() {
        List<Probe> p = new ArrayList<>();
        // README error table, row by row
        p.add(body("not JSON", "not json", 400, "invalid_json"));
        p.add(body("JSON array", "[1,2]", 400, "invalid_json"));
        p.add(body("JSON string", "\"hi\"", 400, "invalid_json"));
        p.add(body("empty body", "", 400, "invalid_json"));
        p.add(body("trailing garbage", M + "} {}", 400, "invalid_json"));
        p.add(body("no model", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "missing_model"));
        p.add(body("model not a string", "{\"model\":7,\"messages\":[]}", 400, "missing_model"));
        p.add(body("unknown model", "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "model_not_found"));
        p.add(body("messages missing", "{\"model\":\"m\"}", 400, "invalid_messages"));
        p.add(body("messages empty", "{\"model\":\"m\",\"messages\":[]}", 400, "invalid_messages"));
        p.add(body("messages a string", "{\"model\":\"m\",\"messages\":\"hello\"}", 400, "invalid_messages"));
        p.add(body("message not an object", "{\"model\":\"m\",\"messages\":[\"hello\"]}", 400, "invalid_messages"));
        p.add(body("unknown role", "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "invalid_role"));
        p.add(body("role not a string", "{\"model\":\"m\",\"messages\":[{\"role\":1,\"content\":\"x\"}]}", 400, "invalid_role"));
        p.add(body("content a number", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":42}]}", 400, "invalid_content"));
        p.add(body("content image part", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                400, "unsupported_content"));
        p.add(field("max_tokens 0", "\"max_tokens\":0", "invalid_max_tokens"));
        p.add(field("max_tokens negative", "\"max_tokens\":-1", "invalid_max_tokens"));
        p.add(field("max_tokens fraction", "\"max_tokens\":1.5", "invalid_max_tokens"));
        p.add(field("max_tokens over the model", "\"max_tokens\":100000000", "invalid_max_tokens"));
        p.add(field("max_tokens 2^64+4", "\"max_tokens\":18446744073709551620", "invalid_max_tokens"));
        p.add(field("max_tokens -2^64+4", "\"max_tokens\":-18446744073709551612", "invalid_max_tokens"));
        p.add(field("max_tokens 2^32+4", "\"max_tokens\":4294967300", "invalid_max_tokens"));
        p.add(field("max_tokens 1e400", "\"max_tokens\":1e400", "invalid_max_tokens"));
        p.add(field("max_tokens 4 + 1e-19", "\"max_tokens\":4.0000000000000000001", "invalid_max_tokens"));
        p.add(field("max_tokens a string", "\"max_tokens\":\"4\"", "invalid_max_tokens"));
        p.add(field("max_completion_tokens 2^64+4", "\"max_completion_tokens\":18446744073709551620", "invalid_max_tokens"));
        p.add(body("prompt + max_tokens over the context", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\""
                + "x".repeat(12_000) + "\"}],\"max_tokens\":2048}", 400, "context_length_exceeded"));
        p.add(body("prompt longer than any pool takes", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\""
                + "x".repeat(20_000) + "\"}]}", 400, "prompt_too_long"));
        p.add(field("temperature 3", "\"temperature\":3", "invalid_temperature"));
        p.add(field("temperature negative", "\"temperature\":-0.1", "invalid_temperature"));
        p.add(field("temperature a string", "\"temperature\":\"0.5\"", "invalid_temperature"));
        p.add(field("temperature 1e999999999", "\"temperature\":1e999999999", "invalid_temperature"));
        p.add(field("priority urgent", "\"priority\":\"urgent\"", "invalid_priority"));
        p.add(field("webhook ftp", "\"webhook\":\"ftp://example.com/x\"", "invalid_webhook"));
        p.add(field("webhook not a URL", "\"webhook\":\"not a url\"", "invalid_webhook"));
        p.add(field("webhook not a string", "\"webhook\":42", "invalid_webhook"));
        p.add(field("webhook with credentials", "\"webhook\":\"https://u:p@example.com/\"", "invalid_webhook"));
        p.add(field("webhook loopback", "\"webhook\":\"http://127.0.0.1:8080/h\"", "invalid_webhook"));
        p.add(field("webhook localhost", "\"webhook\":\"http://localhost/h\"", "invalid_webhook"));
        p.add(field("webhook private", "\"webhook\":\"http://10.0.0.1/h\"", "invalid_webhook"));
        p.add(field("webhook metadata", "\"webhook\":\"http://169.254.169.254/latest\"", "invalid_webhook"));
        p.add(field("webhook IPv4-mapped", "\"webhook\":\"http://[::ffff:127.0.0.1]/h\"", "invalid_webhook"));
        p.add(field("webhook NAT64", "\"webhook\":\"http://[64:ff9b::7f00:1]/h\"", "invalid_webhook"));
        p.add(field("webhook 6to4", "\"webhook\":\"http://[2002:a00:1::]/h\"", "invalid_webhook"));
        p.add(field("webhook IPv4-compatible", "\"webhook\":\"http://[::127.0.0.1]/h\"", "invalid_webhook"));
        p.add(field("webhook port 0", "\"webhook\":\"https://example.com:0/h\"", "invalid_webhook"));
        p.add(field("webhook port 70000", "\"webhook\":\"https://example.com:70000/h\"", "invalid_webhook"));
        p.add(field("webhook_events_filter unknown", "\"webhook_events_filter\":[\"done\"]", "invalid_webhook_events_filter"));
        p.add(field("webhook_events_filter not an array", "\"webhook_events_filter\":\"queued\"", "invalid_webhook_events_filter"));
        p.add(field("metadata value a number", "\"metadata\":{\"k\":1}", "invalid_metadata"));
        p.add(field("metadata an array", "\"metadata\":[]", "invalid_metadata"));
        StringBuilder many = new StringBuilder("\"metadata\":{");
        for (int i = 0; i < 17; i++) {
            many.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"v\"");
        }
        p.add(field("metadata 17 pairs", many.append("}").toString(), "invalid_metadata"));
        p.add(field("metadata key too long", "\"metadata\":{\"" + "k".repeat(65) + "\":\"v\"}", "invalid_metadata"));
        p.add(field("deadline not a time", "\"deadline\":\"yesterday\"", "invalid_deadline"));
        p.add(field("deadline in the past", "\"deadline\":\"2001-01-01T00:00:00Z\"", "invalid_deadline"));
        p.add(field("deadline over 7 days", "\"deadline\":\"2999-01-01T00:00:00Z\"", "invalid_deadline"));
        p.add(body("deadline and Cancel-After", M + ",\"deadline\":\"2999-01-01T00:00:00Z\"}", 400, "invalid_deadline", "Cancel-After", "5m"));
        p.add(body("Cancel-After not a duration", M + "}", 400, "invalid_deadline", "Cancel-After", "soon"));
        p.add(field("stream_options not an object", "\"stream\":true,\"stream_options\":\"usage\"", "invalid_stream_options"));
        p.add(field("stream \"true\"", "\"stream\":\"true\"", "invalid_type"));
        p.add(field("stream 1", "\"stream\":1", "invalid_type"));
        p.add(field("n 2", "\"n\":2", "unsupported_parameter"));
        p.add(field("n 2^64+1", "\"n\":18446744073709551617", "unsupported_parameter"));
        p.add(body("Idempotency-Key blank", M + "}", 400, "invalid_idempotency_key", "Idempotency-Key", " "));
        p.add(body("Idempotency-Key 256 characters", M + "}", 400, "invalid_idempotency_key", "Idempotency-Key", "k".repeat(256)));
        p.add(new Probe("body over the tenant's limit", IngressRig.ACME, "POST", "/v1/jobs",
                (M + ",\"metadata\":{\"k\":\"" + "v".repeat(5000) + "\"}}").getBytes(StandardCharsets.UTF_8), new String[0], 413,
                "request_too_large"));
        p.add(body("body over the server's limit", M + ",\"x\":\"" + "v".repeat(1 << 20) + "\"}", 413, "request_too_large"));
        p.add(new Probe("no API key", null, "POST", "/v1/jobs", (M + "}").getBytes(StandardCharsets.UTF_8), new String[0], 401,
                "invalid_api_key"));
        p.add(new Probe("wrong API key", "Bearer nope", "POST", "/v1/jobs", (M + "}").getBytes(StandardCharsets.UTF_8), new String[0],
                401, "invalid_api_key"));
        p.add(new Probe("basic auth", "Basic YWNtZS1rZXk6", "POST", "/v1/jobs", (M + "}").getBytes(StandardCharsets.UTF_8),
                new String[0], 401, "invalid_api_key"));
        // what the attack run found
        p.add(body("repeated key", "{\"model\":\"m\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
                "duplicate_key"));
        p.add(field("repeated max_tokens", "\"max_tokens\":4,\"max_tokens\":99999999", "duplicate_key"));
        p.add(new Probe("invalid UTF-8", IngressRig.GLOBEX, "POST", "/v1/jobs", bytes(M.replace("\"x\"", "\"\u0001\"") + "}",
                (byte) 0x01, new byte[] {(byte) 0xC3, (byte) 0x28}), new String[0], 400, "invalid_encoding"));
        p.add(new Probe("overlong UTF-8", IngressRig.GLOBEX, "POST", "/v1/jobs", bytes(M.replace("\"x\"", "\"\u0001\"") + "}",
                (byte) 0x01, new byte[] {(byte) 0xC0, (byte) 0xAF}), new String[0], 400, "invalid_encoding"));
        p.add(new Probe("UTF-8 surrogate", IngressRig.GLOBEX, "POST", "/v1/jobs", bytes(M.replace("\"x\"", "\"\u0001\"") + "}",
                (byte) 0x01, new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}), new String[0], 400, "invalid_encoding"));
        p.add(field("deep nesting", "\"metadata\":" + "[".repeat(3000) + "]".repeat(3000), "invalid_json"));
        p.add(field("number of 2000 digits", "\"max_tokens\":" + "9".repeat(2000), "invalid_json"));
        // other routes
        p.add(new Probe("unknown route", IngressRig.GLOBEX, "GET", "/v2/nothing", null, new String[0], 404, "not_found"));
        p.add(new Probe("wrong method", IngressRig.GLOBEX, "DELETE", "/v1/jobs", null, new String[0], 405, "method_not_allowed"));
        p.add(new Probe("list limit 0", IngressRig.GLOBEX, "GET", "/v1/jobs?limit=0", null, new String[0], 400, "invalid_limit"));
        p.add(new Probe("list limit 2^64", IngressRig.GLOBEX, "GET", "/v1/jobs?limit=18446744073709551616", null, new String[0], 400,
                "invalid_limit"));
        p.add(new Probe("list status unknown", IngressRig.GLOBEX, "GET", "/v1/jobs?status=done", null, new String[0], 400,
                "invalid_status"));
        p.add(new Probe("another tenant's job", IngressRig.GLOBEX, "GET", "/v1/jobs/{acme}", null, new String[0], 404, "not_found"));
        p.add(new Probe("cancel another tenant's job", IngressRig.GLOBEX, "POST", "/v1/jobs/{acme}/cancel", null, new String[0], 404,
                "not_found"));
        p.add(new Probe("cancel an unknown job", IngressRig.GLOBEX, "POST", "/v1/jobs/job_none/cancel", null, new String[0], 404,
                "not_found"));
        p.add(new Probe("metrics with a tenant key", IngressRig.GLOBEX, "GET", "/metrics", null, new String[0], 401,
                "operator_key_required"));
        return p.stream();
    }

    private static byte[] bytes(String text, byte marker, byte[] replacement) {
        byte[] raw = text.getBytes(StandardCharsets.UTF_8);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte b : raw) {
            if (b == marker) {
                out.writeBytes(replacement);
            } else {
                out.write(b);
            }
        }
        return out.toByteArray();
    }

    @BeforeAll
    static void start() {
        rig = new IngressRig(new HttpLimits(60_000, 10_000, 1_000, 1_000), p -> p);
        var r = rig.post(IngressRig.OK_BODY, IngressRig.ACME);
        assertThat(r.statusCode()).isEqualTo(202);
        acmeJob = new JsonObject(r.body()).getString("id");
        rig.materialize();
    }

    @AfterAll
    static void stop() {
        rig.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corpus")
    void eachProbeIsRefusedExactlyAndAcceptsNothing(Probe probe) throws Exception {
        int written = rig.mock.history().size();
        List<String> headers = new ArrayList<>(List.of(probe.headers()));
        if (probe.tenant() != null) {
            headers.add("Authorization");
            headers.add(probe.tenant());
        }
        RawHttp.Answer a;
        try (RawHttp c = new RawHttp(rig.port(), 20_000)) {
            c.write(RawHttp.request(probe.method(), probe.path().replace("{acme}", acmeJob), probe.body(), headers.toArray(String[]::new)));
            a = c.read();
        }
        assertThat(a).as("answered").isNotNull();
        assertThat(a.status()).as(a.body()).isEqualTo(probe.status());
        assertError(a, probe.code());
        assertThat(rig.mock.history()).as("nothing written to Kafka").hasSize(written);
        assertOtherTenantServed(probe.tenant());
    }

    @Test
    void aBodyThatNeverCompletesIsAnswered408WhileOtherTenantsAreServed() throws Exception {
        int written = rig.mock.history().size();
        try (RawHttp c = new RawHttp(rig.port(), 20_000)) {
            byte[] full = RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX);
            c.write(java.util.Arrays.copyOf(full, full.length - 10)); // Content-Length promises 10 bytes more
            CompletableFuture<RawHttp.Answer> answer = CompletableFuture.supplyAsync(() -> {
                try {
                    return c.read();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertOtherTenantServed(IngressRig.GLOBEX); // meanwhile
            RawHttp.Answer a = answer.get(20, TimeUnit.SECONDS);
            assertThat(a.status()).isEqualTo(408);
            assertError(a, "request_timeout");
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(rig.mock.history().size()).as("only the other tenant's job").isEqualTo(written + 2);
    }

    private static void assertError(RawHttp.Answer a, String code) {
        assertThat(a.headers().get("content-type")).startsWith("application/json");
        JsonObject error = new JsonObject(a.body()).getJsonObject("error");
        assertThat(error).as(a.body()).isNotNull();
        assertThat(error.getString("code")).as(a.body()).isEqualTo(code);
        assertThat(error.getString("type")).isNotBlank();
        assertThat(error.getString("message")).isNotBlank();
        assertThat(error.containsKey("param")).as("param present (may be null)").isTrue();
    }

    /** Another tenant submits and reads a job while (or right after) the probe. */
    private static void assertOtherTenantServed(String prober) {
        String other = IngressRig.ACME.equals(prober) ? IngressRig.GLOBEX : IngressRig.ACME;
        var r = rig.post(IngressRig.OK_BODY, other);
        assertThat(r.statusCode()).as("another tenant is served: " + r.body()).isEqualTo(202);
        assertThat(rig.http("GET", "/health", null).statusCode()).isEqualTo(200);
    }
}
