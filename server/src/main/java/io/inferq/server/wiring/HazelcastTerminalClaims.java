package io.inferq.server.wiring;

import com.hazelcast.config.MapConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.broker.job.JobStatus;
import io.inferq.broker.job.TerminalClaims;

/**
 * {@link TerminalClaims} in a Hazelcast map shared by every process of the cluster: the claim is an
 * atomic {@code putIfAbsent}. Entries expire after {@link #TTL_SECONDS}, long after any job could
 * still run. Blocking (network): never call from an event loop.
 */
public final class HazelcastTerminalClaims implements TerminalClaims {
    public static final String MAP = "inferq.terminal-claims";
    public static final int TTL_SECONDS = 14 * 24 * 3600;

    private final IMap<String, String> claims;

    public HazelcastTerminalClaims(HazelcastInstance hz) {
        this.claims = hz.getMap(MAP);
    }

    /** The map's configuration: one backup, entries expire after two weeks. */
    public static MapConfig mapConfig() {
        return new MapConfig(MAP).setBackupCount(1).setTimeToLiveSeconds(TTL_SECONDS);
    }

    @Override
    public Claim claim(String jobId, JobStatus terminal, String owner) {
        if (!terminal.isTerminal()) {
            throw new IllegalArgumentException(terminal.apiName() + " is not a terminal status");
        }
        String prev = claims.putIfAbsent(jobId, terminal.name() + "|" + owner);
        return prev == null ? new Claim(terminal, owner) : parse(prev);
    }

    @Override
    public Claim claimed(String jobId) {
        String v = claims.get(jobId);
        return v == null ? null : parse(v);
    }

    /** One {@code getAll}: a single operation per partition owner instead of one per job. */
    @Override
    public java.util.Map<String, Claim> claimedAll(java.util.Collection<String> jobIds) {
        java.util.Map<String, Claim> out = new java.util.HashMap<>();
        claims.getAll(new java.util.HashSet<>(jobIds)).forEach((id, v) -> out.put(id, parse(v)));
        return out;
    }

    private static Claim parse(String v) {
        int bar = v.indexOf('|');
        return new Claim(JobStatus.valueOf(v.substring(0, bar)), v.substring(bar + 1));
    }
}
