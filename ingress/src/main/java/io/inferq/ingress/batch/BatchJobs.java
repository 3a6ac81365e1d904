package io.inferq.ingress.batch;

import io.inferq.broker.avro.ChatMessage;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.job.JobLane;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.ingress.api.JobSubmission;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The jobs of a batch: one per request line, with the deterministic id {@code <batch id>_<line>} (so a runner that
 * restarts mid-submission writes the same job again, never a second one), on the batch lane. Stateless.
 */
final class BatchJobs {
    private BatchJobs() {
    }

    static String jobId(String batchId, int line) {
        return batchId + "_" + line;
    }

    /** @return the 1-based line of a batch job id, or -1 */
    static int lineOf(String jobId) {
        int u = jobId.lastIndexOf('_');
        if (u < 0) {
            return -1;
        }
        try {
            return Integer.parseInt(jobId.substring(u + 1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    static JobRequest request(String batchId, int line, String customId, String tenant, JobSubmission sub, long nowMs,
            long deadlineMs) {
        List<ChatMessage> msgs = new ArrayList<>(sub.messages().size());
        sub.messages().forEach(m -> msgs.add(new ChatMessage(m.role(), m.content())));
        Map<String, String> metadata = new HashMap<>(sub.metadata());
        return JobRequest.newBuilder()
                .setJobId(jobId(batchId, line)).setTenant(tenant).setModel(sub.model()).setMessages(msgs)
                .setMaxTokens(sub.maxTokens()).setTemperature(sub.temperature()).setLane(JobLane.BATCH.toWire())
                .setPromptTokens(sub.promptTokens()).setSubmittedAtMs(nowMs).setDeadlineAtMs(deadlineMs)
                .setMetadata(metadata).setWebhookUrl(null).setWebhookEvents(new ArrayList<>())
                .setRequestHash(sub.requestHash()).setSource("batch").setBatchId(batchId).setCustomId(customId)
                .build();
    }

    /** A terminal snapshot ending a line of a cancelled or expired batch, from its last known snapshot (or none). */
    static JobEvent ended(JobEvent known, String batchId, int line, String tenant, String model, JobStatus status, String code,
            String message, long nowMs) {
        JobEvent base = known != null ? known : JobEvent.newBuilder().setJobId(jobId(batchId, line)).setTenant(tenant)
                .setModel(model).setStatus(JobStatus.QUEUED.toWire()).setAtMs(nowMs).setLane(JobLane.BATCH.toWire())
                .setStateTimes(new HashMap<>()).setBatchId(batchId).setSource("batch").build();
        return JobSnapshots.withError(JobSnapshots.advance(base, status, nowMs), "invalid_request_error", code, message);
    }
}
