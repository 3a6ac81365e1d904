package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.JobEvent;
import io.inferq.ingress.HttpLimits;
import io.vertx.core.Context;
import io.vertx.core.json.JsonObject;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * No producer call runs on an event loop: a send may block (up to {@code max.block.ms}) while the producer fetches
 * metadata of a topic it has not written yet, such as a Kafka job's reply topic that a cancel writes to. Here that
 * send blocks until released; meanwhile the HTTP server keeps answering.
 */
class ProducerOffEventLoopTest {
    static final String REPLY_TOPIC = "tickets.classified";

    @Test
    void aSendThatBlocksNeverHoldsTheEventLoop() throws Exception {
        List<String> onEventLoop = new CopyOnWriteArrayList<>();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(1);
        try (IngressRig rig = new IngressRig(HttpLimits.DEFAULTS, mock -> blockingOn(mock, onEventLoop, blocked, release))) {
            try {
                HttpResponse<String> submitted = rig.post(IngressRig.OK_BODY, IngressRig.GLOBEX);
                assertThat(submitted.statusCode()).as(submitted.body()).isEqualTo(202);
                String id = new JsonObject(submitted.body()).getString("id");
                rig.materialize();
                // the job came from Kafka with a reply topic: its cancel writes the result there
                JobEvent job = rig.view.get(id);
                rig.view.applyAll(List.of(JobEvent.newBuilder(job).setReplyTopic(REPLY_TOPIC).setAtMs(job.getAtMs() + 1).build()));

                CompletableFuture<HttpResponse<String>> cancel = CompletableFuture.supplyAsync(() -> rig.http("POST",
                        "/v1/jobs/" + id + "/cancel", null, "Authorization", IngressRig.GLOBEX));
                assertThat(blocked.await(20, TimeUnit.SECONDS)).as("the cancel's send to the reply topic started").isTrue();
                // while that send waits, the event loop answers other requests
                CompletableFuture<HttpResponse<String>> health = CompletableFuture.supplyAsync(() -> rig.http("GET", "/health", null));
                assertThat(health.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
                HttpResponse<String> other = rig.post(IngressRig.OK_BODY, IngressRig.ACME);
                assertThat(other.statusCode()).as(other.body()).isEqualTo(202);
                assertThat(cancel).isNotDone();
                release.countDown();
                assertThat(cancel.get(20, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            } finally {
                release.countDown();
            }
            assertThat(onEventLoop).as("producer calls made on an event loop").isEmpty();
        }
    }

    /** A producer that notes sends made on an event loop and holds sends to the reply topic until released. */
    @SuppressWarnings("unchecked")
    static Producer<String, byte[]> blockingOn(Producer<String, byte[]> delegate, List<String> onEventLoop, CountDownLatch blocked,
            CountDownLatch release) {
        return (Producer<String, byte[]>) Proxy.newProxyInstance(Producer.class.getClassLoader(), new Class<?>[] {Producer.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("send")) {
                        if (Context.isOnEventLoopThread()) {
                            onEventLoop.add(Thread.currentThread().getName() + ": send to " + ((ProducerRecord<?, ?>) args[0]).topic());
                        }
                        if (((ProducerRecord<?, ?>) args[0]).topic().equals(REPLY_TOPIC)) {
                            blocked.countDown();
                            release.await(30, TimeUnit.SECONDS); // as KafkaProducer waits for the topic's metadata
                        }
                    }
                    try {
                        return method.invoke(delegate, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
