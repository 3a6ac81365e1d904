package io.inferq.ingress.view;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import java.util.List;

/** A test fake of {@link JobView} that holds no job: applies nothing, lists nothing, reserves every key. */
public class EmptyJobView implements JobView {

    @Override
    public JobEvent get(String jobId) {
        return null;
    }

    @Override
    public List<JobEvent> applyAll(List<JobEvent> events) {
        return List.of();
    }

    @Override
    public Page list(String tenant, JobStatus status, int limit, String after) {
        return new Page(List.of(), false);
    }

    @Override
    public long activeJobs(String tenant) {
        return 0;
    }

    @Override
    public IdempotencyRecord reserve(String tenant, String key, String jobId, String requestHash) {
        return null;
    }

    @Override
    public void release(String tenant, String key, String jobId) {
    }
}
