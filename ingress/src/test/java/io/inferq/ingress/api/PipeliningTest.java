package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.1 pipelining: several requests written at once on one keep-alive connection are each answered, in order, and
 * every job created is one whose answer the client got.
 */
class PipeliningTest {
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
    void everyPipelinedRequestIsAnsweredInOrder() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 10_000)) {
            List<byte[]> requests = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                requests.add(RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY.replace("hi", "hi " + i),
                        "Authorization", IngressRig.GLOBEX));
            }
            requests.add(2, RawHttp.request("GET", "/health", (String) null));
            c.write(requests.toArray(byte[][]::new));
            List<RawHttp.Answer> answers = c.read(5);
            assertThat(answers).as("one answer per pipelined request").hasSize(5);
            assertThat(answers.stream().map(RawHttp.Answer::status).toList()).containsExactly(202, 202, 200, 202, 202);
            assertThat(answers.get(2).body()).contains("\"ok\"");
            List<String> ids = new ArrayList<>();
            for (RawHttp.Answer a : answers) {
                if (a.status() == 202) {
                    ids.add(new JsonObject(a.body()).getString("id"));
                }
            }
            assertThat(ids).doesNotHaveDuplicates().hasSize(4);
            // in order: the n-th answer is the n-th job written
            List<String> written = rig.requestRecords().subList(before, before + 4).stream().map(r -> r.key()).toList();
            assertThat(ids).containsExactlyElementsOf(written);
            // the connection is still usable after them
            c.write(RawHttp.request("GET", "/health", (String) null));
            assertThat(c.read().status()).isEqualTo(200);
        }
        assertThat(rig.requestRecords()).hasSize(before + 4);
    }

    @Test
    void pipelinedRequestsWithErrorsAndSlowAnswersStayPaired() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 10_000)) {
            c.write(RawHttp.request("POST", "/v1/jobs", "{not json", "Authorization", IngressRig.GLOBEX),
                    RawHttp.request("GET", "/v1/jobs/job_none", (String) null, "Authorization", IngressRig.GLOBEX),
                    RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX),
                    RawHttp.request("GET", "/nowhere", (String) null),
                    RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", "Bearer wrong"));
            List<RawHttp.Answer> answers = c.read(5);
            assertThat(answers.stream().map(RawHttp.Answer::status).toList()).containsExactly(400, 404, 202, 404, 401);
        }
        assertThat(rig.requestRecords()).hasSize(before + 1);
    }

    @Test
    void twoPipelinedGetsAreBothAnswered() throws Exception {
        try (RawHttp c = new RawHttp(rig.port(), 5_000)) {
            c.write(RawHttp.request("GET", "/health", (String) null), RawHttp.request("GET", "/health", (String) null));
            assertThat(c.read(2)).hasSize(2);
        }
    }

    @Test
    void aRequestAfterConnectionCloseIsNeverRun() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 5_000)) {
            c.write(RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX),
                    RawHttp.request("GET", "/health", (String) null, "Connection", "close"),
                    RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX));
            List<RawHttp.Answer> answers = c.read(3);
            assertThat(answers.stream().map(RawHttp.Answer::status).toList()).containsExactly(202, 200);
        }
        assertThat(rig.requestRecords()).as("the request after 'Connection: close' was not run").hasSize(before + 1);
    }

    @Test
    void http10RequestsAreAnsweredOneAtATime() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 5_000)) {
            byte[] r = RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX);
            byte[] r10 = new String(r, java.nio.charset.StandardCharsets.ISO_8859_1).replace("HTTP/1.1", "HTTP/1.0")
                    .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            c.write(r10, r10, r10);
            List<RawHttp.Answer> answers = c.read(3);
            int answered = answers.size();
            assertThat(rig.requestRecords()).as("jobs created = answers sent (" + answers + ")").hasSize(before + answered);
        }
    }

    @Test
    void anOversizedBodyIsRefusedAndTheRequestsAfterItAreNotLost() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 5_000)) {
            String big = IngressRig.OK_BODY.replace("hi", "x".repeat(2 << 20));
            c.write(RawHttp.request("POST", "/v1/jobs", big, "Authorization", IngressRig.GLOBEX),
                    RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX));
            List<RawHttp.Answer> answers = c.read(2);
            assertThat(answers).isNotEmpty();
            assertThat(answers.get(0).status()).isEqualTo(413);
            assertThat(rig.requestRecords()).as("jobs created = 202 answers (" + answers + ")")
                    .hasSize(before + (int) answers.stream().filter(a -> a.status() == 202).count());
        }
    }

    @Test
    void chunkedAndExpectContinueRequestsPipelineToo() throws Exception {
        int before = rig.requestRecords().size();
        try (RawHttp c = new RawHttp(rig.port(), 5_000)) {
            byte[] body = IngressRig.OK_BODY.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            String chunked = "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: " + IngressRig.GLOBEX
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(10) + "\r\n" + IngressRig.OK_BODY.substring(0, 10) + "\r\n"
                    + Integer.toHexString(body.length - 10) + "\r\n" + IngressRig.OK_BODY.substring(10) + "\r\n0\r\n\r\n";
            c.write(chunked.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1),
                    RawHttp.request("POST", "/v1/jobs", IngressRig.OK_BODY, "Authorization", IngressRig.GLOBEX, "Expect", "100-continue"),
                    RawHttp.request("GET", "/health", (String) null));
            List<RawHttp.Answer> answers = c.read(4);
            assertThat(answers.stream().map(RawHttp.Answer::status).filter(s -> s != 100).toList()).containsExactly(202, 202, 200);
        }
        assertThat(rig.requestRecords()).hasSize(before + 2);
    }
}
