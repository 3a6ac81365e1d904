package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.ingress.IngressServer;
import io.inferq.ingress.tenants.SubmitRateLimiter;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.EmptyJobView;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Until this process's job view has replayed the job events, every job call answers {@code 503 view_loading}: an
 * idempotency key or a job the view has not reached yet would otherwise look unknown (a second job, a false 404).
 * The view here is a fake that knows no job; the HTTP server and the routes are the real ones.
 */
class JobsApiViewLoadingTest {

    @Test
    void jobCallsWaitForTheViewAndOtherRoutesDoNot() throws Exception {
        AtomicBoolean caughtUp = new AtomicBoolean(false);
        Vertx vertx = Vertx.vertx();
        MockProducer<String, byte[]> producer = new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
        List<ServedModel> served = List.of(new ServedModel("m", "inferq", 4096, 512, 2048, List.of("p")));
        JobsApi api = new JobsApi(vertx, new TenantDirectory(List.of(), Tenant.openDefault("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
                new SubmitRateLimiter(java.time.Clock.systemUTC()), new JobSubmissionParser(served), new EmptyJobView(),
                new InMemoryTerminalClaims(), producer, Clock.systemUTC(), new SimpleMeterRegistry(), url -> null,
                TrustedOrigin.withSecret(new byte[32]), caughtUp::get);
        IngressServer server = new IngressServer("127.0.0.1", 0, 1 << 20, List.of(api::mount), served, Map::of, () -> "");
        vertx.deployVerticle(server).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        try {
            String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";
            for (String[] call : List.of(new String[] {"GET", "/v1/jobs/job_x"}, new String[] {"GET", "/v1/jobs"},
                    new String[] {"POST", "/v1/jobs"}, new String[] {"POST", "/v1/jobs/job_x/cancel"},
                    new String[] {"POST", "/v1/chat/completions"})) {
                HttpResponse<String> r = call(server, call[0], call[1], call[0].equals("POST") ? body : null);
                assertThat(r.statusCode()).as(call[1]).isEqualTo(503);
                assertThat(new JsonObject(r.body()).getJsonObject("error").getString("code")).isEqualTo("view_loading");
                assertThat(r.headers().firstValue("Retry-After")).isPresent();
            }
            assertThat(call(server, "GET", "/v1/models", null).statusCode()).as("not a job call").isEqualTo(200);
            assertThat(producer.history()).as("nothing written while loading").isEmpty();

            caughtUp.set(true);
            assertThat(call(server, "GET", "/v1/jobs/job_x", null).statusCode()).isEqualTo(404);
            HttpResponse<String> queued = call(server, "POST", "/v1/jobs", body);
            assertThat(queued.statusCode()).as(queued.body()).isEqualTo(202);
            assertThat(producer.history()).hasSize(2);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static HttpResponse<String> call(IngressServer server, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.actualPort() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
