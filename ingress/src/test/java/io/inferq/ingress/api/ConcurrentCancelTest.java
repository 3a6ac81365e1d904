package io.inferq.ingress.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.HttpLimits;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A cancel answers 200 once; every repeat, even one sent at the same moment, answers 409 and writes nothing. */
class ConcurrentCancelTest {

    @Test
    void twentyConcurrentCancelsAnswer200ExactlyOnce() throws Exception {
        try (IngressRig rig = new IngressRig()) {
            HttpResponse<String> submitted = rig.post(IngressRig.OK_BODY, IngressRig.GLOBEX);
            String id = new JsonObject(submitted.body()).getString("id");
            rig.materialize();
            List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                calls.add(CompletableFuture.supplyAsync(() -> rig.http("POST", "/v1/jobs/" + id + "/cancel", null,
                        "Authorization", IngressRig.GLOBEX)));
            }
            List<Integer> statuses = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> c : calls) {
                HttpResponse<String> r = c.get(30, TimeUnit.SECONDS);
                statuses.add(r.statusCode());
                if (r.statusCode() == 409) {
                    assertThat(new JsonObject(r.body()).getJsonObject("error").getString("code")).isEqualTo("job_already_finished");
                }
            }
            assertThat(statuses).as(statuses.toString()).containsOnly(200, 409);
            assertThat(statuses.stream().filter(s -> s == 200).count()).as(statuses.toString()).isEqualTo(1);
            long cancelledEvents = rig.mock.history().stream().filter(r -> r.topic().equals(TopicCatalogue.JOB_EVENTS)).count() - 1;
            assertThat(cancelledEvents).as("one cancelled event besides the queued one").isEqualTo(1);
            assertThat(rig.mock.history().stream().filter(r -> r.topic().equals(TopicCatalogue.RESULTS)).count()).isEqualTo(1);
            assertThat(rig.claims.claimed(id)).isEqualTo(new TerminalClaims.Claim(JobStatus.CANCELLED, JobCancellation.WRITTEN_CANCEL_OWNER));
            // after the view caught up, still 409
            rig.materialize();
            assertThat(rig.http("POST", "/v1/jobs/" + id + "/cancel", null, "Authorization", IngressRig.GLOBEX).statusCode())
                    .isEqualTo(409);
        }
    }

    @Test
    void aCancelWhoseWriteFailedIsWrittenByTheNextCancel() throws Exception {
        java.util.concurrent.atomic.AtomicBoolean failResults = new java.util.concurrent.atomic.AtomicBoolean(true);
        try (IngressRig rig = new IngressRig(HttpLimits.DEFAULTS, mock -> failingResults(mock, failResults))) {
            HttpResponse<String> submitted = rig.post(IngressRig.OK_BODY, IngressRig.GLOBEX);
            String id = new JsonObject(submitted.body()).getString("id");
            rig.materialize();
            HttpResponse<String> first = rig.http("POST", "/v1/jobs/" + id + "/cancel", null, "Authorization", IngressRig.GLOBEX);
            assertThat(first.statusCode()).as(first.body()).isEqualTo(503);
            assertThat(rig.claims.claimed(id).status()).as("the job never runs").isEqualTo(JobStatus.CANCELLED);
            failResults.set(false);
            HttpResponse<String> again = rig.http("POST", "/v1/jobs/" + id + "/cancel", null, "Authorization", IngressRig.GLOBEX);
            assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
            assertThat(rig.http("POST", "/v1/jobs/" + id + "/cancel", null, "Authorization", IngressRig.GLOBEX).statusCode())
                    .isEqualTo(409);
        }
    }

    @SuppressWarnings("unchecked")
    private static org.apache.kafka.clients.producer.Producer<String, byte[]> failingResults(
            org.apache.kafka.clients.producer.Producer<String, byte[]> delegate, java.util.concurrent.atomic.AtomicBoolean fail) {
        return (org.apache.kafka.clients.producer.Producer<String, byte[]>) java.lang.reflect.Proxy.newProxyInstance(
                org.apache.kafka.clients.producer.Producer.class.getClassLoader(),
                new Class<?>[] {org.apache.kafka.clients.producer.Producer.class}, (proxy, method, args) -> {
                    if (method.getName().equals("send") && fail.get()
                            && ((org.apache.kafka.clients.producer.ProducerRecord<?, ?>) args[0]).topic().equals(TopicCatalogue.RESULTS)) {
                        throw new org.apache.kafka.common.errors.TimeoutException("simulated: broker unavailable");
                    }
                    try {
                        return method.invoke(delegate, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
