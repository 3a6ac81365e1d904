package io.inferq.ingress.webhooks;

import io.inferq.broker.SharedKafkaBroker;
import static io.inferq.ingress.webhooks.WebhookEventTypeTest.event;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicSpec;
import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.HttpErrors;
import io.inferq.ingress.tenants.Tenant;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Against the real embedded Kafka broker and a real HTTP receiver on 127.0.0.1; the retry schedule runs on a
 * fake clock (advanced by the test, then {@code pumpNow}), so no test waits for a retry delay.
 */
class WebhookDeliveryIntegrationTest {
    static final String SECRET_A = "whsec_" + Base64.getEncoder().encodeToString("tenant-a-current-key".getBytes(StandardCharsets.UTF_8));
    static final String SECRET_A_OLD = "whsec_" + Base64.getEncoder().encodeToString("tenant-a-old-key".getBytes(StandardCharsets.UTF_8));
    static final Tenant A = new Tenant("acme", List.of("key-a"), 100, 1 << 20, 100, List.of(SECRET_A, SECRET_A_OLD), null);
    static final Tenant B = new Tenant("other", List.of("key-b"), 100, 1 << 20, 100, List.of(SECRET_A), null);

    static Vertx vertx;
    static KafkaClientSettings kafka;
    static Receiver receiver;

    final FakeClock clock = new FakeClock(Instant.parse("2030-01-01T00:00:00Z"));
    final BlockingQueue<Delivery> settled = new LinkedBlockingQueue<>();
    final List<WebhookDispatcher> open = new ArrayList<>();
    String deliveriesTopic;
    String dlqTopic;
    String group;

    @BeforeAll
    static void startAll() throws Exception {
        kafka = KafkaClientSettings.of(SharedKafkaBroker.bootstrapServers());
        vertx = Vertx.vertx();
        receiver = new Receiver();
        receiver.server = vertx.createHttpServer().requestHandler(receiver::handle).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopAll() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void topics() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        deliveriesTopic = "test.webhook-deliveries." + suffix;
        dlqTopic = deliveriesTopic + ".dlq";
        group = "test-deliverers-" + suffix;
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin admin = Admin.create(p)) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(List.of(
                    new TopicSpec(deliveriesTopic, 3, Map.of("cleanup.policy", "compact")),
                    new TopicSpec(dlqTopic, 1, Map.of("cleanup.policy", "delete"))));
        }
        receiver.reset();
    }

    @AfterEach
    void close() {
        open.forEach(WebhookDispatcher::close);
    }

    WebhookSettings settings(List<String> allowlist) {
        return WebhookSettings.defaults().withTargets(false, allowlist).withTimeout(Duration.ofMillis(500))
                .withTick(Duration.ofHours(1)) // only the test's pumpNow starts attempts after the clock moves
                .withTopics(deliveriesTopic, dlqTopic, group);
    }

    WebhookDispatcher start(WebhookSettings s) throws Exception {
        var d = new WebhookDispatcher(vertx, kafka, s, id -> Optional.ofNullable(Map.of("acme", A, "other", B).get(id)),
                clock, new SimpleMeterRegistry(), () -> 0.5);
        open.add(d);
        d.onSettled(settled::add);
        d.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertThat(d.isReady()).isTrue();
        return d;
    }

    WebhookDispatcher start() throws Exception {
        return start(settings(List.of("127.0.0.1")));
    }

    String url(String path) {
        return "http://127.0.0.1:" + receiver.server.actualPort() + path;
    }

    Delivery nextSettled() throws InterruptedException {
        Delivery d = settled.poll(20, TimeUnit.SECONDS);
        assertThat(d).as("an attempt settled").isNotNull();
        return d;
    }

    /**
     * Moves the fake clock to the delivery's next attempt and pumps (any other pump on the dispatcher's context,
     * e.g. after it reads its own write back, may start the attempt first: the caller waits for the settlement).
     */
    void advanceTo(WebhookDispatcher w, Delivery pending) throws Exception {
        clock.set(Instant.ofEpochMilli(pending.nextAttemptAtMs()));
        w.pumpNow().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
    }

    @Test
    void receiverFailingThreeTimesGetsExactlyOneSuccessfulDeliveryAllWithOneIdAndValidSignatures() throws Exception {
        var w = start();
        receiver.script(500, 503, 502, 200);
        w.onJobChanged(event("job-1", JobStatusCode.SUCCEEDED, url("/hook"), List.of(), clock.millis()));
        w.onJobChanged(event("job-1", JobStatusCode.SUCCEEDED, url("/hook"), List.of(), clock.millis())); // same snapshot again

        Delivery d = nextSettled();
        long[] expectedDelays = {5_000, 300_000, 1_800_000};
        for (int i = 0; i < 3; i++) {
            assertThat(d.state()).isEqualTo(Delivery.State.PENDING);
            assertThat(d.attempts()).isEqualTo(i + 1);
            assertThat(d.nextAttemptAtMs() - clock.millis()).isEqualTo(expectedDelays[i]);
            assertThat(d.lastError()).contains("HTTP 5");
            advanceTo(w, d);
            d = nextSettled();
        }
        assertThat(d.state()).isEqualTo(Delivery.State.DELIVERED);
        assertThat(d.attempts()).isEqualTo(4);

        List<Received> got = receiver.drain();
        assertThat(got).hasSize(4);
        assertThat(got).extracting(r -> r.id).containsOnly(d.id());
        assertThat(got).extracting(r -> r.status).containsExactly(500, 503, 502, 200);
        for (Received r : got) {
            // both secrets (rotation) sign, each checked by the test's own HMAC
            assertThat(r.signature.split(" ")).containsExactly(
                    WebhookSignerTest.independent(SECRET_A, r.id, Long.parseLong(r.timestamp), r.body),
                    WebhookSignerTest.independent(SECRET_A_OLD, r.id, Long.parseLong(r.timestamp), r.body));
        }
        JsonObject payload = new JsonObject(new String(got.get(3).body, StandardCharsets.UTF_8));
        assertThat(payload.getString("type")).isEqualTo("job.completed");
        assertThat(payload.getString("timestamp")).isEqualTo("2030-01-01T00:00:00Z");
        assertThat(payload.getJsonObject("data").getString("id")).isEqualTo("job-1");
        assertThat(got.get(0).body).isEqualTo(got.get(3).body);
        assertThat(Long.parseLong(got.get(3).timestamp)).isEqualTo(clock.millis() / 1000);
    }

    @Test
    void queuedAndRunningAreSentOnlyWhenFilteredWithTheirOwnIds() throws Exception {
        var w = start();
        receiver.script(200, 200);
        w.onJobChanged(event("job-2", JobStatusCode.QUEUED, url("/f"), List.of("running", "completed"), clock.millis()));
        w.onJobChanged(event("job-2", JobStatusCode.RUNNING, url("/f"), List.of("running", "completed"), clock.millis()));
        Delivery running = nextSettled();
        w.onJobChanged(event("job-2", JobStatusCode.SUCCEEDED, url("/f"), List.of("running", "completed"), clock.millis()));
        Delivery completed = nextSettled();
        assertThat(running.eventType()).isEqualTo("job.running");
        assertThat(completed.eventType()).isEqualTo("job.completed");
        assertThat(running.id()).isNotEqualTo(completed.id());
        assertThat(receiver.drain()).hasSize(2);
    }

    @Test
    void goneDisablesTheEndpointAndLaterDeliveriesFailAtOnce() throws Exception {
        var w = start();
        receiver.script(410);
        w.onJobChanged(event("job-3", JobStatusCode.SUCCEEDED, url("/gone"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        assertThat(d.state()).isEqualTo(Delivery.State.FAILED);
        assertThat(d.lastError()).contains("410").contains("disabled");
        w.onJobChanged(event("job-4", JobStatusCode.FAILED, url("/gone"), List.of(), clock.millis()));
        Delivery later = nextSettled();
        assertThat(later.state()).isEqualTo(Delivery.State.FAILED);
        assertThat(later.lastError()).contains("endpoint disabled");
        assertThat(receiver.drain()).hasSize(1);
    }

    @Test
    void retryAfterLongerThanTheScheduleIsHonoured() throws Exception {
        var w = start();
        receiver.scriptWithRetryAfter(503, "600");
        receiver.script(200);
        w.onJobChanged(event("job-5", JobStatusCode.SUCCEEDED, url("/busy"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        assertThat(d.nextAttemptAtMs() - clock.millis()).isEqualTo(600_000);
        clock.advance(Duration.ofSeconds(5)); // the schedule alone would retry now
        assertThat(w.pumpNow().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS)).isZero();
        advanceTo(w, d);
        assertThat(nextSettled().state()).isEqualTo(Delivery.State.DELIVERED);
    }

    @Test
    void redirectIsNotFollowedAndCountsAsFailure() throws Exception {
        var w = start();
        receiver.scriptRedirect(url("/elsewhere"));
        w.onJobChanged(event("job-6", JobStatusCode.SUCCEEDED, url("/moved"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        assertThat(d.state()).isEqualTo(Delivery.State.PENDING);
        assertThat(d.lastError()).contains("redirect 302 not followed");
        assertThat(receiver.drain()).extracting(r -> r.path).containsExactly("/moved");
    }

    @Test
    void timeoutCountsAsFailure() throws Exception {
        var w = start();
        receiver.scriptSilence();
        w.onJobChanged(event("job-7", JobStatusCode.SUCCEEDED, url("/slow"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        assertThat(d.state()).isEqualTo(Delivery.State.PENDING);
        assertThat(d.attempts()).isEqualTo(1);
        assertThat(d.lastError()).contains("timeout");
    }

    @Test
    void forbiddenTargetIsRefusedAtDeliveryWithoutAnyRequest() throws Exception {
        var w = start(settings(List.of())); // no allowlist: loopback forbidden
        w.onJobChanged(event("job-8", JobStatusCode.SUCCEEDED, url("/ssrf"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        assertThat(d.state()).isEqualTo(Delivery.State.FAILED);
        assertThat(d.lastError()).contains("loopback");
        assertThat(receiver.drain()).isEmpty();
    }

    @Test
    void pendingDeliveriesSurviveARestart() throws Exception {
        var first = start();
        receiver.script(500, 500);
        first.onJobChanged(event("job-9", JobStatusCode.SUCCEEDED, url("/r"), List.of(), clock.millis()));
        first.onJobChanged(event("job-10", JobStatusCode.CANCELLED, url("/r"), List.of(), clock.millis()));
        Delivery a = nextSettled();
        Delivery b = nextSettled();
        assertThat(List.of(a.state(), b.state())).containsOnly(Delivery.State.PENDING);
        first.close();
        open.remove(first);

        receiver.script(200, 200);
        var second = start(); // replays the compacted topic, joins the group alone
        assertThat(second.get(a.id()).attempts()).isEqualTo(1);
        clock.advance(Duration.ofSeconds(5));
        second.pumpNow().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        assertThat(List.of(nextSettled().state(), nextSettled().state())).containsOnly(Delivery.State.DELIVERED);
        List<Received> got = receiver.drain();
        assertThat(got).extracting(r -> r.status).containsExactly(500, 500, 200, 200);
        assertThat(got.stream().map(r -> r.id).distinct()).containsExactlyInAnyOrder(a.id(), b.id());

        // a third start (as after another restart, with the job view re-materialised) sends nothing again
        second.close();
        open.remove(second);
        var third = start();
        third.onJobChanged(event("job-9", JobStatusCode.SUCCEEDED, url("/r"), List.of(), clock.millis()));
        assertThat(third.get(a.id()).state()).isEqualTo(Delivery.State.DELIVERED);
        assertThat(third.pumpNow().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS)).isZero();
    }

    @Test
    void exhaustedDeliveryGoesToTheDlqIsListedPerTenantAndReplaysWithTheSameId() throws Exception {
        var w = start();
        receiver.script(500, 500, 500, 500, 500, 500, 500, 500);
        w.onJobChanged(event("job-11", JobStatusCode.SUCCEEDED, url("/down"), List.of(), clock.millis()));
        Delivery d = nextSettled();
        while (d.state() == Delivery.State.PENDING) {
            advanceTo(w, d);
            d = nextSettled();
        }
        assertThat(d.state()).isEqualTo(Delivery.State.FAILED);
        assertThat(d.attempts()).isEqualTo(8);
        assertThat(d.lastError()).contains("gave up after 8 attempts");
        assertThat(receiver.drain()).hasSize(8);
        // wall-clock span of the schedule: 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h
        assertThat(clock.millis() - Instant.parse("2030-01-01T00:00:00Z").toEpochMilli())
                .isEqualTo(Duration.ofSeconds(5).plusMinutes(35).plusHours(27).toMillis());

        JsonObject dead = dlqRecord(d.id());
        assertThat(dead.getString("reason")).contains("gave up");
        assertThat(dead.getJsonObject("delivery").getString("job_id")).isEqualTo("job-11");

        Router router = Router.router(vertx);
        new WebhookApi(w, ctx -> {
            String auth = ctx.request().getHeader("Authorization");
            if ("Bearer key-a".equals(auth)) {
                return A;
            }
            if ("Bearer key-b".equals(auth)) {
                return B;
            }
            HttpErrors.send(ctx, ApiError.unauthorized("bad key"));
            return null;
        }).mount(router);
        HttpServer api = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        String base = "http://127.0.0.1:" + api.actualPort() + "/v1/webhooks/deliveries";
        try {
            var list = call("GET", base + "?status=failed", "key-a");
            assertThat(list.statusCode()).isEqualTo(200);
            var data = new JsonObject(list.body()).getJsonArray("data");
            assertThat(data).hasSize(1);
            assertThat(data.getJsonObject(0).getString("id")).isEqualTo(d.id());
            assertThat(data.getJsonObject(0).getString("status")).isEqualTo("failed");
            assertThat(data.getJsonObject(0).getInteger("attempts")).isEqualTo(8);
            assertThat(new JsonObject(call("GET", base + "?status=failed", "key-b").body()).getJsonArray("data")).isEmpty();
            assertThat(new JsonObject(call("GET", base + "?status=pending", "key-a").body()).getJsonArray("data")).isEmpty();
            var bad = call("GET", base + "?status=bogus", "key-a");
            assertThat(bad.statusCode()).isEqualTo(400);
            assertThat(new JsonObject(bad.body()).getJsonObject("error").getString("code")).isEqualTo("invalid_status");
            assertThat(call("GET", base, "nope").statusCode()).isEqualTo(401);

            var foreign = call("POST", base + "/" + d.id() + "/replay", "key-b");
            assertThat(foreign.statusCode()).isEqualTo(404);
            assertThat(call("POST", base + "/msg_unknown/replay", "key-a").statusCode()).isEqualTo(404);

            receiver.script(200);
            var replay = call("POST", base + "/" + d.id() + "/replay", "key-a");
            assertThat(replay.statusCode()).isEqualTo(202);
            assertThat(new JsonObject(replay.body()).getString("status")).isEqualTo("pending");
            Delivery again = nextSettled();
            assertThat(again.state()).isEqualTo(Delivery.State.DELIVERED);
            assertThat(again.attempts()).isEqualTo(1);
            assertThat(receiver.drain()).extracting(r -> r.id).containsExactly(d.id());

            var twice = call("POST", base + "/" + d.id() + "/replay", "key-a");
            assertThat(twice.statusCode()).isEqualTo(409);
            assertThat(new JsonObject(twice.body()).getJsonObject("error").getString("code")).isEqualTo("delivery_not_failed");
        } finally {
            api.close();
        }
    }

    HttpResponse<String> call(String method, String uri, String key) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(uri)).header("Authorization", "Bearer " + key)
                .method(method, HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(10)).build();
        return HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString());
    }

    JsonObject dlqRecord(String id) {
        Properties p = kafka.consumer("test-dlq-reader", null);
        try (var c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
            var tp = new TopicPartition(dlqTopic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 20_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (id.equals(r.key())) {
                        return new JsonObject(new String(r.value(), StandardCharsets.UTF_8));
                    }
                }
            }
        }
        throw new AssertionError("no DLQ record for " + id);
    }

    /** One received webhook request and the status it was answered with. */
    record Received(String path, String id, String timestamp, String signature, byte[] body, int status) {
    }

    /** An HTTP receiver answering from a script (one answer per request; 200 when the script is empty). */
    static final class Receiver {
        HttpServer server;
        final ConcurrentLinkedQueue<Object[]> script = new ConcurrentLinkedQueue<>();
        final LinkedBlockingQueue<Received> received = new LinkedBlockingQueue<>();

        void reset() {
            script.clear();
            received.clear();
        }

        void script(int... statuses) {
            for (int s : statuses) {
                script.add(new Object[] {s, null, null});
            }
        }

        void scriptWithRetryAfter(int status, String retryAfter) {
            script.add(new Object[] {status, "retry-after", retryAfter});
        }

        void scriptRedirect(String location) {
            script.add(new Object[] {302, "location", location});
        }

        void scriptSilence() {
            script.add(new Object[] {-1, null, null});
        }

        List<Received> drain() {
            List<Received> out = new ArrayList<>();
            received.drainTo(out);
            return out;
        }

        void handle(io.vertx.core.http.HttpServerRequest req) {
            req.body().onSuccess(buf -> {
                Object[] next = script.poll();
                int status = next == null ? 200 : (Integer) next[0];
                received.add(new Received(req.path(), req.getHeader("webhook-id"), req.getHeader("webhook-timestamp"),
                        req.getHeader("webhook-signature"), buf.getBytes(), status));
                if (status < 0) {
                    return; // never answer
                }
                var resp = req.response().setStatusCode(status);
                if (next != null && next[1] != null) {
                    resp.putHeader((String) next[1], (String) next[2]);
                }
                resp.end();
            });
        }
    }

    /** A settable clock. */
    static final class FakeClock extends Clock {
        private volatile Instant now;

        FakeClock(Instant start) {
            this.now = start;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        void set(Instant t) {
            now = t;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
