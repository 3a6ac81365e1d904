package io.inferq.ingress.webhooks;

import static io.inferq.ingress.webhooks.WebhookEventTypeTest.event;
import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.SharedKafkaBroker;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobStatusCode;
import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicBootstrap;
import io.inferq.broker.topics.TopicSpec;
import io.inferq.ingress.tenants.Tenant;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Deliveries are created from the job-events topic by a consumer that commits an event only once its delivery record
 * is acknowledged ({@link DeliveryCreator}): a failed write of the record, or a crash between reading the event and
 * committing it, never loses the webhook, and a replay yields at most a repeat with the same {@code webhook-id}.
 * Real embedded broker and a real HTTP receiver.
 */
class WebhookCreationAfterCrashTest {
    static Vertx vertx;
    static KafkaClientSettings kafka;
    static WebhookDeliveryIntegrationTest.Receiver receiver;
    static KafkaProducer<String, byte[]> events;

    final WebhookDeliveryIntegrationTest.FakeClock clock =
            new WebhookDeliveryIntegrationTest.FakeClock(Instant.parse("2030-01-01T00:00:00Z"));
    final List<WebhookDispatcher> open = new ArrayList<>();
    String eventsTopic;
    String deliveriesTopic;
    String group;

    @BeforeAll
    static void startAll() throws Exception {
        kafka = KafkaClientSettings.of(SharedKafkaBroker.bootstrapServers());
        vertx = Vertx.vertx();
        receiver = new WebhookDeliveryIntegrationTest.Receiver();
        receiver.server = vertx.createHttpServer().requestHandler(receiver::handle).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        events = new KafkaProducer<>(kafka.producer("test-job-events"), new StringSerializer(), new ByteArraySerializer());
    }

    @AfterAll
    static void stopAll() throws Exception {
        events.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void topics() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        eventsTopic = "test.job-events." + suffix;
        deliveriesTopic = "test.webhook-deliveries." + suffix;
        group = "test-deliverers-" + suffix;
        try (Admin admin = admin()) {
            new TopicBootstrap(admin, (short) 1, 30_000).ensure(List.of(
                    new TopicSpec(eventsTopic, 2, Map.of("cleanup.policy", "compact")),
                    new TopicSpec(deliveriesTopic, 3, Map.of("cleanup.policy", "compact")),
                    new TopicSpec(deliveriesTopic + ".dlq", 1, Map.of("cleanup.policy", "delete"))));
        }
        receiver.reset();
    }

    @AfterEach
    void close() {
        open.forEach(WebhookDispatcher::close);
    }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        return Admin.create(p);
    }

    WebhookDispatcher start(java.util.function.UnaryOperator<Function<Delivery, CompletableFuture<RecordMetadata>>> writes)
            throws Exception {
        WebhookSettings s = WebhookSettings.defaults().withTargets(false, List.of("127.0.0.1")).withTimeout(Duration.ofSeconds(2))
                .withTick(Duration.ofMillis(100)).withTopics(deliveriesTopic, deliveriesTopic + ".dlq", group);
        Tenant acme = WebhookDeliveryIntegrationTest.A;
        var d = new WebhookDispatcher(vertx, kafka, s, id -> Optional.ofNullable(Map.of("acme", acme).get(id)), clock,
                new SimpleMeterRegistry(), () -> 0.5).createFrom(eventsTopic);
        d.decorateCreationWrites(writes);
        open.add(d);
        d.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        return d;
    }

    void publish(JobEvent e) throws Exception {
        events.send(new ProducerRecord<>(eventsTopic, String.valueOf(e.getJobId()), new AvroSerde<>(JobEvent.class).encode(e)))
                .get(10, TimeUnit.SECONDS);
    }

    String url() {
        return "http://127.0.0.1:" + receiver.server.actualPort() + "/hook";
    }

    /** Waits until the receiver saw {@code n} requests in all, then a little longer for a repeat that should not come. */
    List<WebhookDeliveryIntegrationTest.Received> awaitReceived(int n) throws Exception {
        List<WebhookDeliveryIntegrationTest.Received> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (got.size() < n && System.nanoTime() < deadline) {
            var r = receiver.received.poll(200, TimeUnit.MILLISECONDS);
            if (r != null) {
                got.add(r);
            }
        }
        assertThat(got).as("webhook requests received").hasSize(n);
        return got;
    }

    long committedLag(String creatorsGroup) throws Exception {
        try (Admin admin = admin()) {
            Map<TopicPartition, org.apache.kafka.clients.consumer.OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(creatorsGroup).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            var ends = admin.listOffsets(Map.of(new TopicPartition(eventsTopic, 0), OffsetSpec.latest(),
                    new TopicPartition(eventsTopic, 1), OffsetSpec.latest())).all().get(10, TimeUnit.SECONDS);
            long lag = 0;
            for (var e : ends.entrySet()) {
                var c = committed.get(e.getKey());
                lag += e.getValue().offset() - (c == null ? 0 : c.offset());
            }
            return lag;
        }
    }

    interface Check {
        boolean holds() throws Exception;
    }

    static void until(Check check, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!check.holds()) {
            assertThat(System.nanoTime()).as("timed out waiting: " + what).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    @Test
    void aDeliveryRecordWhoseWriteFailsIsWrittenAgainAndDelivered() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        start(real -> d -> calls.incrementAndGet() == 1
                ? CompletableFuture.failedFuture(new org.apache.kafka.common.errors.TimeoutException("injected: not acknowledged"))
                : real.apply(d));
        publish(event("job-fail-once", JobStatusCode.SUCCEEDED, url(), List.of(), clock.millis()));

        var got = awaitReceived(1);
        assertThat(got.get(0).id()).isEqualTo(WebhookEventType.COMPLETED.deliveryId("job-fail-once"));
        assertThat(calls.get()).as("delivery record writes").isGreaterThanOrEqualTo(2);
        until(() -> committedLag(group + "-creators") == 0, "creator commits the event");
        assertThat(receiver.received.poll(1, TimeUnit.SECONDS)).as("no second request").isNull();
    }

    @Test
    void aCrashBeforeTheCommitYieldsEachWebhookExactlyOncePerIdAfterTheRestart() throws Exception {
        // first life: the delivery of job-a is written (and sent by its owner) but the process dies before its event is
        // committed; job-b's event is read but the process dies before its delivery record is written at all
        CompletableFuture<RecordMetadata> never = new CompletableFuture<>();
        WebhookDispatcher first = start(real -> d -> {
            if (d.jobId().equals("job-a")) {
                real.apply(d);
            }
            return never;
        });
        publish(event("job-a", JobStatusCode.SUCCEEDED, url(), List.of(), clock.millis()));
        publish(event("job-b", JobStatusCode.FAILED, url(), List.of(), clock.millis()));
        var firstLife = awaitReceived(1);
        assertThat(firstLife.get(0).id()).isEqualTo(WebhookEventType.COMPLETED.deliveryId("job-a"));
        first.close();
        open.remove(first);
        assertThat(committedLag(group + "-creators")).as("events not committed by the crashed process").isEqualTo(2);

        // second life: reads both events again from the committed offsets
        start(java.util.function.UnaryOperator.identity());
        var secondLife = awaitReceived(1);
        until(() -> committedLag(group + "-creators") == 0, "events committed after the restart");
        assertThat(receiver.received.poll(1, TimeUnit.SECONDS)).as("no further request").isNull();

        List<WebhookDeliveryIntegrationTest.Received> all = new ArrayList<>(firstLife);
        all.addAll(secondLife);
        Map<String, Long> perId = all.stream().collect(Collectors.groupingBy(r -> r.id(), Collectors.counting()));
        assertThat(perId).containsOnlyKeys(WebhookEventType.COMPLETED.deliveryId("job-a"), WebhookEventType.COMPLETED.deliveryId("job-b"))
                .allSatisfy((id, n) -> assertThat(n).as("requests with webhook-id %s", id).isEqualTo(1L));
    }
}
