package io.inferq.server.wiring;

import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;

/**
 * {@link TerminalClaims} in a Hazelcast map shared by every process of the cluster: the claim is an
 * atomic {@code putIfAbsent} (a batch's claims: one entry processor per partition owner). Entries expire after
 * {@code retention.terminal-claim-days} (default {@link #TTL_SECONDS}), long after any job could still run.
 * Blocking (network): never call from an event loop.
 */
public final class HazelcastTerminalClaims implements TerminalClaims {
    public static final String MAP = "inferq.terminal-claims";
    public static final int TTL_SECONDS = 14 * 24 * 3600;

    /** Batches of at most this many jobs read their claims key by key ({@link #claimedAll}). */
    static final int DIRECT_READS = 8;

    private final IMap<String, String> claims;

    public HazelcastTerminalClaims(HazelcastInstance hz) {
        this.claims = hz.getMap(MAP);
    }

    /** The map's configuration: one backup, entries expire after two weeks ({@link #TTL_SECONDS}). */
    public static MapConfig mapConfig() {
        return mapConfig(java.time.Duration.ofSeconds(TTL_SECONDS));
    }

    /** The map's configuration: one backup, entries expire {@code ttl} after they were set. */
    public static MapConfig mapConfig(java.time.Duration ttl) {
        return new MapConfig(MAP).setBackupCount(1).setTimeToLiveSeconds(Math.toIntExact(ttl.toSeconds()));
    }

    @Override
    public Claim claim(String jobId, JobStatus terminal, String owner) {
        TerminalClaims.requireTerminal(terminal);
        String prev = claims.putIfAbsent(jobId, terminal.name() + "|" + owner);
        return prev == null ? new Claim(terminal, owner) : parse(prev);
    }

    @Override
    public Claim claimed(String jobId) {
        String v = claims.get(jobId);
        return v == null ? null : parse(v);
    }

    /** One {@code replace(key, old, new)}: atomic on the entry's partition owner. */
    @Override
    public boolean transfer(String jobId, Claim from, String toOwner) {
        String to = from.status().name() + "|" + toOwner;
        return claims.replace(jobId, from.status().name() + "|" + from.owner(), to) || to.equals(claims.get(jobId));
    }

    /**
     * Up to {@value #DIRECT_READS} jobs (an interactive batch): one {@code getAsync} per job, all in flight at once, each
     * a single operation on its key's partition thread. More (a batch lane's batch): one {@code getAll}, a single
     * operation per partition owner instead of one per job. ({@code getAll} is first taken by one of the member's few
     * generic operation threads, which fans it out to the partitions; behind a batch lane's large reads and claims there,
     * a one-job read waited tens of milliseconds before it even started.)
     */
    @Override
    public java.util.Map<String, Claim> claimedAll(java.util.Collection<String> jobIds) {
        java.util.Map<String, Claim> out = new java.util.HashMap<>();
        java.util.Set<String> ids = new java.util.HashSet<>(jobIds);
        if (ids.size() > DIRECT_READS) {
            claims.getAll(ids).forEach((id, v) -> out.put(id, parse(v)));
            return out;
        }
        java.util.Map<String, java.util.concurrent.CompletableFuture<String>> reads = new java.util.HashMap<>();
        ids.forEach(id -> reads.put(id, claims.getAsync(id).toCompletableFuture()));
        reads.forEach((id, read) -> {
            String v;
            try {
                v = read.join();
            } catch (java.util.concurrent.CompletionException e) {
                // as getAll would throw it: the member's own exception (HazelcastException, OperationTimeoutException, ...)
                throw e.getCause() instanceof RuntimeException re ? re : e;
            }
            if (v != null) {
                out.put(id, parse(v));
            }
        });
        return out;
    }

    /**
     * One {@code executeOnKeys}: an entry processor that sets each absent claim and answers the winner, one
     * operation per partition owner instead of one {@code putIfAbsent} per job. The map's time-to-live applies
     * to claims set this way as to any other.
     */
    @Override
    public java.util.Map<String, Claim> claimAll(java.util.Map<String, JobStatus> terminals, String owner) {
        java.util.Map<String, String> values = new java.util.HashMap<>();
        terminals.forEach((id, status) -> values.put(id, TerminalClaims.requireTerminal(status).name() + "|" + owner));
        if (values.isEmpty()) {
            return java.util.Map.of();
        }
        java.util.Map<String, Claim> out = new java.util.HashMap<>();
        claims.executeOnKeys(values.keySet(), new ClaimIfAbsent(values)).forEach((id, v) -> out.put(id, parse(v)));
        return out;
    }

    /** Sets the entry to its value from {@code values} if it has none; answers the entry's (winning) value. */
    static final class ClaimIfAbsent implements com.hazelcast.map.EntryProcessor<String, String, String> {
        private static final long serialVersionUID = 1L;
        private final java.util.HashMap<String, String> values;

        ClaimIfAbsent(java.util.Map<String, String> values) {
            this.values = new java.util.HashMap<>(values);
        }

        @Override
        public String process(java.util.Map.Entry<String, String> entry) {
            String current = entry.getValue();
            if (current != null) {
                return current;
            }
            String mine = values.get(entry.getKey());
            entry.setValue(mine);
            return mine;
        }
    }

    private static Claim parse(String v) {
        int bar = v.indexOf('|');
        return new Claim(JobStatus.valueOf(v.substring(0, bar)), v.substring(bar + 1));
    }
}
