package io.inferq.ingress.webhooks;

import static org.assertj.core.api.Assertions.assertThat;

import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobStatusCode;
import java.util.List;
import org.junit.jupiter.api.Test;

class WebhookEventTypeTest {

    static JobEvent event(String jobId, JobStatusCode status, String url, List<String> filter, long atMs) {
        return JobEvent.newBuilder().setJobId(jobId).setTenant("acme").setModel("deepseek-v3").setStatus(status)
                .setAtMs(atMs).setWebhookUrl(url).setWebhookEvents(filter).build();
    }

    @Test
    void completedIsAlwaysSentQueuedAndRunningOnlyWhenFiltered() {
        String url = "https://example.com/h";
        for (JobStatusCode terminal : List.of(JobStatusCode.SUCCEEDED, JobStatusCode.FAILED, JobStatusCode.CANCELLED, JobStatusCode.EXPIRED)) {
            assertThat(WebhookEventType.select(event("j", terminal, url, List.of(), 0))).contains(WebhookEventType.COMPLETED);
        }
        assertThat(WebhookEventType.select(event("j", JobStatusCode.QUEUED, url, List.of("completed"), 0))).isEmpty();
        assertThat(WebhookEventType.select(event("j", JobStatusCode.QUEUED, url, List.of("queued", "completed"), 0)))
                .contains(WebhookEventType.QUEUED);
        assertThat(WebhookEventType.select(event("j", JobStatusCode.RUNNING, url, List.of("queued"), 0))).isEmpty();
        assertThat(WebhookEventType.select(event("j", JobStatusCode.RUNNING, url, List.of("running"), 0))).contains(WebhookEventType.RUNNING);
        assertThat(WebhookEventType.select(event("j", JobStatusCode.DISPATCHED, url, List.of("queued", "running"), 0))).isEmpty();
        assertThat(WebhookEventType.select(event("j", JobStatusCode.SUCCEEDED, null, List.of(), 0))).isEmpty();
    }

    @Test
    void deliveryIdDependsOnlyOnJobAndEventType() {
        String a = WebhookEventType.COMPLETED.deliveryId("job_1");
        assertThat(a).startsWith("msg_").hasSize(36).isEqualTo(WebhookEventType.COMPLETED.deliveryId("job_1"));
        assertThat(a).isNotEqualTo(WebhookEventType.RUNNING.deliveryId("job_1")).isNotEqualTo(WebhookEventType.COMPLETED.deliveryId("job_2"));
    }
}
