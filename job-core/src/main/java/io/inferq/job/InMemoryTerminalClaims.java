package io.inferq.job;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** {@link TerminalClaims} in one JVM's memory: for tests and single-process tools. Thread-safe, unbounded. */
public final class InMemoryTerminalClaims implements TerminalClaims {
    private final Map<String, Claim> claims = new ConcurrentHashMap<>();

    @Override
    public Claim claim(String jobId, JobStatus terminal, String owner) {
        TerminalClaims.requireTerminal(terminal);
        Claim mine = new Claim(terminal, owner);
        Claim prev = claims.putIfAbsent(jobId, mine);
        return prev == null ? mine : prev;
    }

    @Override
    public Claim claimed(String jobId) {
        return claims.get(jobId);
    }

    @Override
    public boolean transfer(String jobId, Claim from, String toOwner) {
        Claim to = new Claim(from.status(), toOwner);
        return claims.replace(jobId, from, to) || to.equals(claims.get(jobId));
    }
}
