package io.inferq.ingress.view;

import io.inferq.job.JobStatus;

/**
 * One job in the shared view map (key: the job id): the fields list queries filter and sort on, plus the
 * latest snapshot. Stored with Hazelcast compact serialization (zero-config for records: no class is needed
 * on external members, which only see the schema), kept small because the view holds every unfinished job:
 * the job id is the map key and is not repeated here, the status is one byte, and the snapshot leaves out
 * what the entry or the key already says (see {@link HazelcastJobView}).
 *
 * @param tenant      owner
 * @param status      {@link JobStatus#ordinal()} of the status (the view is derived and rebuilt at start)
 * @param createdAtMs submit time, the list order
 * @param snapshot    the latest {@code JobEvent} in Avro single-object encoding, with {@code job_id} and
 *                    {@code tenant} empty (restored from the key and {@link #tenant}) and {@code request_hash}
 *                    kept only when the job has an idempotency key (nothing else reads it)
 */
record JobViewEntry(String tenant, byte status, long createdAtMs, byte[] snapshot) {

    /** @return the entry's status */
    public JobStatus jobStatus() {
        return JobStatus.values()[status];
    }

    static byte code(JobStatus s) {
        return (byte) s.ordinal();
    }
}
