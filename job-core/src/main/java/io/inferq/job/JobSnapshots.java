package io.inferq.job;

import io.inferq.broker.avro.JobError;
import io.inferq.broker.avro.JobEvent;
import io.inferq.broker.avro.JobRequest;
import io.inferq.broker.avro.JobResult;
import io.inferq.broker.avro.Usage;
import java.util.HashMap;
import java.util.Map;

/**
 * Builds the job-event snapshots and results every module publishes, so that each event on
 * {@code inferq.job-events} carries the whole job (compaction keeps only the latest per job).
 * Stateless and thread-safe.
 */
public final class JobSnapshots {
    /**
     * The {@code state_times} key of when a job's first output token came (epoch ms, the worker's clock): a moment, not
     * a status, set on a succeeded job's terminal event.
     */
    public static final String FIRST_TOKEN_TIME = "first_token";

    private JobSnapshots() {
    }

    /** The snapshot of a request entering {@code status} at {@code atMs}. */
    public static JobEvent fromRequest(JobRequest r, JobStatus status, long atMs) {
        Map<String, Long> times = new HashMap<>();
        times.put(JobStatus.QUEUED.apiName(), r.getSubmittedAtMs());
        times.put(status.apiName(), atMs);
        return JobEvent.newBuilder()
                .setJobId(r.getJobId()).setTenant(r.getTenant()).setModel(r.getModel())
                .setStatus(status.toWire()).setAtMs(atMs).setLane(r.getLane())
                .setStateTimes(times).setPromptTokens(r.getPromptTokens()).setMaxTokens(r.getMaxTokens())
                .setMetadata(new HashMap<>(r.getMetadata())).setWebhookUrl(r.getWebhookUrl())
                .setWebhookEvents(r.getWebhookEvents()).setCorrelationId(r.getCorrelationId()).setReplyTopic(r.getReplyTopic())
                .setIdempotencyKey(r.getIdempotencyKey()).setRequestHash(r.getRequestHash())
                .setDeadlineAtMs(r.getDeadlineAtMs()).setBatchId(r.getBatchId()).setCustomId(r.getCustomId())
                .setSource(r.getSource())
                .setResultContentType(r.getResultContentType())
                .build();
    }

    /** A copy of {@code previous} moved to {@code status} at {@code atMs}, keeping earlier state times. */
    public static JobEvent advance(JobEvent previous, JobStatus status, long atMs) {
        Map<String, Long> times = new HashMap<>(previous.getStateTimes());
        times.put(status.apiName(), atMs);
        return JobEvent.newBuilder(previous).setStatus(status.toWire()).setAtMs(atMs).setStateTimes(times).build();
    }

    /** A terminal snapshot with an error (failed, cancelled, expired). */
    public static JobEvent withError(JobEvent event, String type, String code, String message) {
        return JobEvent.newBuilder(event).setError(new JobError(type, code, message)).build();
    }

    /** The result record matching a terminal snapshot. */
    public static JobResult result(JobEvent terminal) {
        Map<String, Long> t = terminal.getStateTimes();
        return JobResult.newBuilder()
                .setJobId(terminal.getJobId()).setTenant(terminal.getTenant()).setModel(terminal.getModel())
                .setStatus(terminal.getStatus()).setOutput(terminal.getOutput())
                .setFinishReason(terminal.getFinishReason()).setUsage(terminal.getUsage())
                .setError(terminal.getError()).setCorrelationId(terminal.getCorrelationId())
                .setPoolId(terminal.getPoolId()).setChip(terminal.getChip())
                .setSubmittedAtMs(t.getOrDefault(JobStatus.QUEUED.apiName(), 0L))
                .setStartedAtMs(t.get(JobStatus.RUNNING.apiName()))
                .setFirstTokenAtMs(t.get(FIRST_TOKEN_TIME))
                .setFinishedAtMs(terminal.getAtMs())
                .setToolCallsJson(terminal.getToolCallsJson()).setLogprobsJson(terminal.getLogprobsJson())
                .build();
    }

    /** Usage record helper. */
    public static Usage usage(int prompt, int completion, int cached) {
        return new Usage(prompt, completion, cached);
    }
}
