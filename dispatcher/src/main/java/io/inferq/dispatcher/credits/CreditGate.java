package io.inferq.dispatcher.credits;

/**
 * Batch credits of pool instances shared by every dispatcher of a cluster, so that N dispatchers never keep more than
 * {@code maxInFlightBatchesPerInstance} batches in flight on one instance between them (each dispatcher's own ledger
 * only sees its own batches). A dispatcher takes a credit of the instance it planned a batch for before sending it,
 * and gives it back when the batch's last job has left it. One gate object belongs to one dispatcher (it knows its
 * owner id).
 *
 * <p>The dispatcher module holds only this contract and the in-process {@link SharedCredits}; the cluster-wide one
 * (a Hazelcast map, one entry per pool instance) lives in {@code server}'s wiring, as Hazelcast stays out of the
 * dispatcher.
 *
 * <p><b>Threading.</b> Called on the scheduler's thread. Implementations may block briefly (a network round trip):
 * the dispatcher runs on a worker context, never on an event loop.
 */
public interface CreditGate {

    /**
     * Takes one credit of {@code instance} of {@code poolId} for this dispatcher if fewer than
     * {@code maxPerInstance} are taken by all dispatchers together.
     *
     * @return whether the credit was taken; false also when the store cannot be reached (the batch waits)
     */
    boolean tryAcquire(String poolId, int instance, int maxPerInstance);

    /** Gives back one credit this dispatcher took on {@code instance} of {@code poolId}. Idempotent per batch by the caller. */
    void release(String poolId, int instance);

    /** One dispatcher alone: every credit its own ledger allows is free (no shared state). */
    CreditGate UNSHARED = new CreditGate() {
        @Override
        public boolean tryAcquire(String poolId, int instance, int maxPerInstance) {
            return true;
        }

        @Override
        public void release(String poolId, int instance) {
        }

        @Override
        public String toString() {
            return "CreditGate.UNSHARED";
        }
    };
}
