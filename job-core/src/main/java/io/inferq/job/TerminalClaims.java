package io.inferq.job;

/**
 * The arbiter of "exactly one terminal state": before anyone publishes a terminal event or result
 * for a job, it claims the terminal status here; the first claim wins and every later claim learns
 * the winner. A claim by the same owner with the same status succeeds again, so a worker that re-runs
 * a batch after a crash (its transaction aborted) can still publish the outcome it had claimed,
 * while a second copy of the job in another batch cannot.
 *
 * <p>Implementations are thread-safe and may block (a Hazelcast call): never call them from an event
 * loop. The production implementation lives in a Hazelcast map (see the server module); if that map
 * is lost, a job that ran twice around the loss could publish two outcomes — the status view still
 * keeps the first one it sees.
 */
public interface TerminalClaims {

    /** The winning claim of a job. */
    record Claim(JobStatus status, String owner) {
    }

    /**
     * @param terminal a terminal status
     * @param owner    who claims: a dispatch batch id, or {@code "api"} for a cancel through the API
     * @return the winning claim (this one if it won)
     */
    Claim claim(String jobId, JobStatus terminal, String owner);

    /** @return the winning claim of a job, or {@code null} if none yet */
    Claim claimed(String jobId);

    /**
     * Hands a job's winning claim to another owner, if it is still exactly {@code from}: how an owner records a
     * later step of its own (the API marks a cancel whose event and result are written, so that a repeated cancel
     * writes nothing twice). The status never changes, so the first claim still wins.
     *
     * @return whether the claim is now {@code from.status()} owned by {@code toOwner}
     */
    boolean transfer(String jobId, Claim from, String toOwner);

    /**
     * The winning claims of several jobs at once (one round trip where the implementation allows).
     *
     * @return job id → winning claim, for the jobs that have one
     */
    default java.util.Map<String, Claim> claimedAll(java.util.Collection<String> jobIds) {
        java.util.Map<String, Claim> out = new java.util.HashMap<>();
        for (String id : jobIds) {
            Claim c = claimed(id);
            if (c != null) {
                out.put(id, c);
            }
        }
        return out;
    }

    /**
     * Claims several jobs for one owner at once, each with its own terminal status: per job exactly
     * {@link #claim}, in one round trip where the implementation allows (a worker claims a whole batch's
     * outcomes together). Jobs are independent: a job already claimed by someone else does not stop the others.
     *
     * @param terminals job id → the terminal status this owner claims for it
     * @return job id → winning claim, for every job of {@code terminals}
     */
    default java.util.Map<String, Claim> claimAll(java.util.Map<String, JobStatus> terminals, String owner) {
        java.util.Map<String, Claim> out = new java.util.HashMap<>();
        terminals.forEach((id, status) -> out.put(id, claim(id, status, owner)));
        return out;
    }

    /**
     * @return {@code status}
     * @throws IllegalArgumentException if it is not terminal (only terminal states are claimed)
     */
    static JobStatus requireTerminal(JobStatus status) {
        if (!status.isTerminal()) {
            throw new IllegalArgumentException(status.apiName() + " is not a terminal status");
        }
        return status;
    }

    /** @return whether this claim won, or repeats the winner exactly */
    default boolean tryClaim(String jobId, JobStatus terminal, String owner) {
        Claim c = claim(jobId, terminal, owner);
        return c.status() == terminal && c.owner().equals(owner);
    }
}
