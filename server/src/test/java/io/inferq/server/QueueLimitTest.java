package io.inferq.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A tenant's queued-jobs limit, on a process that only runs ingress (nothing is dispatched, so jobs stay queued):
 * over the limit a submit answers 429 {@code queue_limit_exceeded}; a finished (here: cancelled) job frees a place.
 */
class QueueLimitTest {
    static InferqServer server;
    static final String KEY = "Bearer small-key";
    static final String BODY = "{\"model\":\"deepseek-v2-lite\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";
    static final int LIMIT = 5;

    @BeforeAll
    static void start() {
        server = TestInferq.start(tree -> {
            tree.putArray("roles").add("ingress");
            ObjectNode t = tree.putArray("tenants").addObject();
            t.put("id", "small").put("max-queued-jobs", LIMIT).putArray("api-keys").add("small-key");
        });
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static HttpResponse<String> submit() {
        return TestInferq.http(server, "POST", "/v1/jobs", BODY, "Authorization", KEY);
    }

    private static int listed() {
        var r = TestInferq.http(server, "GET", "/v1/jobs?status=queued&limit=100", null, "Authorization", KEY);
        return new JsonObject(r.body()).getJsonArray("data").size();
    }

    @Test
    void overTheLimitAnswers429AndAFinishedJobFreesAPlace() {
        String first = null;
        for (int i = 0; i < LIMIT; i++) {
            var r = submit();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
            if (first == null) {
                first = new JsonObject(r.body()).getString("id");
            }
        }
        TestInferq.await(Duration.ofSeconds(20), () -> listed() == LIMIT, LIMIT + " queued jobs in the view");

        var over = submit();
        assertThat(over.statusCode()).as(over.body()).isEqualTo(429);
        JsonObject error = new JsonObject(over.body()).getJsonObject("error");
        assertThat(error.getString("code")).isEqualTo("queue_limit_exceeded");
        assertThat(error.getString("message")).contains("'small'", "limit is " + LIMIT);
        assertThat(over.headers().firstValue("Retry-After")).isPresent();

        var cancel = TestInferq.http(server, "POST", "/v1/jobs/" + first + "/cancel", "", "Authorization", KEY);
        assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
        TestInferq.await(Duration.ofSeconds(20), () -> listed() == LIMIT - 1, "the cancelled job out of the queued list");
        // the estimate re-reads the shared count at most every 100 ms: a submit is accepted again soon after
        int[] status = {0};
        TestInferq.await(Duration.ofSeconds(20), () -> (status[0] = submit().statusCode()) != 429, "a place freed");
        assertThat(status[0]).isEqualTo(202);
        assertThat(submit().statusCode()).as("the limit holds again").isEqualTo(429);
    }
}
