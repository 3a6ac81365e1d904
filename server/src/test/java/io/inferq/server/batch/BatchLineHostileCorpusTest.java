package io.inferq.server.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.server.InferqServer;
import io.inferq.server.TestInferq;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The hostile-input corpus for the fourth entry point, batch input lines: each probe is a file whose first line is a
 * valid request and whose second line is the hostile one. The batch must fail validation with exactly one error, on
 * line 2, with the probe's code; nothing runs (no output or error file, no completed request), and another tenant's
 * job is accepted meanwhile.
 */
class BatchLineHostileCorpusTest {
    static final String ACME = "sk-acme-batch-corpus";
    static final String BETA = "sk-beta-batch-corpus";
    static final String MODEL = "deepseek-v2-lite";
    static InferqServer server;

    /** A probe: the hostile second line and the code its error must carry. */
    record Probe(String name, byte[] line, String code) {
        @Override
        public String toString() {
            return name + " -> " + code;
        }
    }

    private static Probe raw(String name, String line, String code) {
        return new Probe(name, line.getBytes(StandardCharsets.UTF_8), code);
    }

    private static Probe line(String name, JsonObject line, String code) {
        return raw(name, line.encode(), code);
    }

    /** A line whose body is {@code {"model": MODEL, <bodyFields>}}, written as text. */
    private static Probe body(String name, String bodyFields, String code) {
        return raw(name, "{\"custom_id\":\"p\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"" + MODEL
                + "\"," + bodyFields + "}}", code);
    }

    /** A line whose body has one user message and {@code fields}. */
    private static Probe bodyFields(String name, String fields, String code) {
        return body(name, "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]," + fields, code);
    }

    private static JsonObject ok(String customId) {
        return BatchHttp.line(customId, MODEL, 4);
    }

    static Stream<Probe> probes() {
        List<Probe> p = new ArrayList<>();
        p.add(raw("not JSON", "{not json", "invalid_json_line"));
        p.add(raw("a JSON array", "[1,2]", "invalid_json_line"));
        p.add(raw("a JSON string", "\"hello\"", "invalid_json_line"));
        p.add(raw("two objects on a line", ok("p").encode() + " {}", "invalid_json_line"));
        p.add(line("no custom_id", ok("p").put("custom_id", (String) null), "missing_custom_id"));
        p.add(line("custom_id empty", ok("p").put("custom_id", ""), "missing_custom_id"));
        p.add(line("custom_id a number", ok("p").put("custom_id", 7), "missing_custom_id"));
        p.add(line("custom_id of 513 characters", ok("x".repeat(513)), "invalid_custom_id"));
        p.add(line("duplicate custom_id", ok("first"), "duplicate_custom_id"));
        p.add(line("method GET", ok("p").put("method", "GET"), "invalid_method"));
        p.add(line("method missing", ok("p").put("method", (String) null), "invalid_method"));
        p.add(line("url of another endpoint", ok("p").put("url", "/v1/embeddings"), "invalid_url"));
        p.add(line("url with a host", ok("p").put("url", "https://example.com/v1/chat/completions"), "invalid_url"));
        p.add(line("body a string", ok("p").put("body", "hello"), "invalid_body"));
        p.add(line("body missing", ok("p").put("body", (String) null), "invalid_body"));
        p.add(line("unknown model", BatchHttp.line("p", "gpt-9", 4), "model_not_found"));
        p.add(line("another served model (mixed)", BatchHttp.line("p", "deepseek-r1", 4), "mixed_models"));
        p.add(body("no messages", "\"max_tokens\":4,\"messages\":[]", "invalid_messages"));
        p.add(body("unknown role", "\"max_tokens\":4,\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]", "invalid_role"));
        p.add(bodyFields("max_tokens 0", "\"max_tokens\":0", "invalid_max_tokens"));
        p.add(bodyFields("max_tokens 2^64+4", "\"max_tokens\":18446744073709551620", "invalid_max_tokens"));
        p.add(bodyFields("max_tokens a string", "\"max_tokens\":\"4\"", "invalid_max_tokens"));
        p.add(bodyFields("temperature 3", "\"max_tokens\":4,\"temperature\":3", "invalid_temperature"));
        p.add(bodyFields("stream true", "\"max_tokens\":4,\"stream\":true", "unsupported_parameter"));
        p.add(bodyFields("stream \"true\"", "\"max_tokens\":4,\"stream\":\"true\"", "invalid_type"));
        p.add(bodyFields("webhook not a URL", "\"max_tokens\":4,\"webhook\":\"not a url\"", "invalid_webhook"));
        p.add(bodyFields("webhook to a private address", "\"max_tokens\":4,\"webhook\":\"http://10.0.0.1/hook\"", "invalid_webhook"));
        p.add(bodyFields("webhook to the loopback", "\"max_tokens\":4,\"webhook\":\"http://127.0.0.1:9/hook\"", "invalid_webhook"));
        p.add(bodyFields("a key twice in the body", "\"max_tokens\":4,\"max_tokens\":8", "duplicate_key"));
        byte[] badUtf8 = ("{\"custom_id\":\"p\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"" + MODEL
                + "\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"bad \u0000\"}]}}").getBytes(StandardCharsets.UTF_8);
        int at = new String(badUtf8, StandardCharsets.ISO_8859_1).indexOf('\u0000');
        badUtf8[at] = (byte) 0xC3; // a lead byte followed by '"': not UTF-8
        p.add(new Probe("invalid UTF-8", badUtf8, "invalid_encoding"));
        return p.stream();
    }

    @BeforeAll
    static void start() {
        server = TestInferq.start(tree -> {
            var tenants = tree.putArray("tenants");
            tenants.addObject().put("id", "acme").putArray("api-keys").add(ACME);
            tenants.addObject().put("id", "beta").putArray("api-keys").add(BETA);
        });
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("probes")
    void aHostileLineFailsTheBatchWithItsCodeOnItsLineAndRunsNothing(Probe probe) {
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.writeBytes((ok("first").encode() + "\n").getBytes(StandardCharsets.UTF_8));
        file.writeBytes(probe.line());
        file.writeBytes("\n".getBytes(StandardCharsets.UTF_8));
        String fileId = BatchHttp.uploadOk(server, ACME, file.toByteArray());
        JsonObject created = BatchHttp.createOk(server, ACME, fileId);
        JsonObject b = BatchHttp.await(server, ACME, created.getString("id"), Set.of("failed", "in_progress", "finalizing", "completed"),
                Duration.ofSeconds(60));
        assertThat(b.getString("status")).as(b.encodePrettily()).isEqualTo("failed");
        JsonArray errors = b.getJsonObject("errors").getJsonArray("data");
        assertThat(errors.size()).as(errors.encodePrettily()).isEqualTo(1);
        assertThat(errors.getJsonObject(0).getInteger("line")).as(errors.encodePrettily()).isEqualTo(2);
        assertThat(errors.getJsonObject(0).getString("code")).as(errors.encodePrettily()).isEqualTo(probe.code());
        assertThat(errors.getJsonObject(0).getString("message")).isNotBlank();
        assertThat(b.getValue("output_file_id")).as("nothing ran").isNull();
        assertThat(b.getValue("error_file_id")).as("nothing ran").isNull();
        assertThat(b.getJsonObject("request_counts").getInteger("completed")).isZero();
        // another tenant is served meanwhile
        var other = TestInferq.http(server, "POST", "/v1/jobs", new JsonObject().put("model", MODEL).put("max_tokens", 4)
                .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "still here"))).encode(),
                BatchHttp.auth(BETA));
        assertThat(other.statusCode()).as(other.body()).isEqualTo(202);
    }
}
