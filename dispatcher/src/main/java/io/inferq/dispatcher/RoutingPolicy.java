package io.inferq.dispatcher;

import java.util.List;
import java.util.Optional;

/**
 * Chooses the pool for a candidate batch. Implementations are called only from the scheduler's thread and
 * may keep state (a round-robin cursor, a seeded random). They must not read the wall clock: time comes in
 * as {@code nowMs}. See {@link RoutingPolicies} for the default and the baselines.
 */
interface RoutingPolicy {

    /** Short name for reports and metrics, e.g. {@code "ect"}. */
    String name();

    /**
     * @param options one per candidate pool, in configuration order, never empty
     * @param nowMs   the decision time
     * @return the chosen option (one with {@link RouteOption#hasCredit()}), or empty to hold the batch until
     *         credits return; choosing an option without credit also holds
     */
    Optional<RouteOption> choose(List<RouteOption> options, long nowMs);
}
