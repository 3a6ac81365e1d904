package io.inferq.ingress.view;

/**
 * One job in the shared view map: indexed fields for queries plus the latest snapshot as Avro bytes.
 * Stored with Hazelcast compact serialization (zero-config for records).
 *
 * @param jobId       job id
 * @param tenant      owner
 * @param status      API name of the status
 * @param createdAtMs submit time, the list order
 * @param snapshot    the latest {@code JobEvent} in Avro single-object encoding
 */
public record JobViewEntry(String jobId, String tenant, String status, long createdAtMs, byte[] snapshot) {
}
