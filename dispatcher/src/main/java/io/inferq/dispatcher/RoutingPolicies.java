package io.inferq.dispatcher;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * The routing policies shipped with the dispatcher. Each call returns a new, independent policy instance
 * (round-robin and random keep state).
 *
 * <p>The baselines are <em>credit-aware</em>: they only pick among pools with a free credit and never hold
 * work, as a load balancer in front of a credit-based queue would. Only {@link #estimatedCompletion()} looks at
 * chip speed, queued work and cached prefixes, and may hold a batch for a busy pool that will still finish it
 * sooner.
 */
public final class RoutingPolicies {

    /**
     * The names the setting {@code dispatcher.policy} takes, the default first: the one list of the shipped policies
     * (configuration, benchmarks, simulator). {@link #byName} takes these and each policy's {@link RoutingPolicy#name()}.
     */
    public static final List<String> NAMES = List.of("estimated-completion", "round-robin", "least-loaded", "random");

    private RoutingPolicies() {
    }

    /**
     * Default: the pool with the lowest estimated completion time (work ahead on its least-backlogged instance
     * + prefill of the uncached prompt tokens + decode). Cached prefixes lower the prefill term, queued work
     * raises the ahead term, so a hot prefix attracts work only until that pool's queue costs more than the
     * prefill it saves (the overlap-versus-load trade of NVIDIA Dynamo's KV router). If the best pool has no free
     * credit the batch is held for it; ties go to the pool with more free credits, then configuration order.
     */
    public static RoutingPolicy estimatedCompletion() {
        return new EstimatedCompletion();
    }

    /** Baseline: rotate over the pools of the model, skipping pools without a free credit. */
    public static RoutingPolicy roundRobin() {
        return new RoundRobin();
    }

    /** Baseline: the pool with the lowest share of its batch credits in use (ties: configuration order). */
    public static RoutingPolicy leastLoaded() {
        return new LeastLoaded();
    }

    /** Baseline: a uniformly random pool among those with a free credit, reproducible for a seed. */
    public static RoutingPolicy random(long seed) {
        return new RandomChoice(seed);
    }

    /**
     * Looks a policy up by one of {@link #NAMES} or its {@link RoutingPolicy#name()} ({@code ect} for
     * {@code estimated-completion}; the others are the same).
     */
    public static RoutingPolicy byName(String name, long seed) {
        return switch (name) {
            case "estimated-completion", "ect" -> estimatedCompletion();
            case "round-robin" -> roundRobin();
            case "least-loaded" -> leastLoaded();
            case "random" -> random(seed);
            default -> throw new IllegalArgumentException(
                    "routing policy must be one of " + String.join(", ", NAMES) + " (or ect); was " + name);
        };
    }

    /**
     * The short name (its {@link RoutingPolicy#name()}, for reports and metrics) of the policy {@link #byName} looks up.
     *
     * @throws IllegalArgumentException if {@code name} names no policy
     */
    public static String shortName(String name) {
        return byName(name, 0).name();
    }

    private static final class EstimatedCompletion implements RoutingPolicy {
        @Override
        public String name() {
            return "ect";
        }

        @Override
        public Optional<RouteOption> choose(List<RouteOption> options, long nowMs) {
            RouteOption best = null;
            for (RouteOption o : options) {
                if (best == null || better(o, best)) {
                    best = o;
                }
            }
            return best != null && best.hasCredit() ? Optional.of(best) : Optional.empty();
        }

        private static boolean better(RouteOption a, RouteOption b) {
            double ea = a.estimatedCompletionSeconds();
            double eb = b.estimatedCompletionSeconds();
            // relative tolerance so float noise does not decide between equivalent pools
            if (Math.abs(ea - eb) > 1e-9 * Math.max(1.0, Math.max(ea, eb))) {
                return ea < eb;
            }
            return a.freeBatchCredits() > b.freeBatchCredits();
        }
    }

    private static final class RoundRobin implements RoutingPolicy {
        private long cursor;

        @Override
        public String name() {
            return "round-robin";
        }

        @Override
        public Optional<RouteOption> choose(List<RouteOption> options, long nowMs) {
            int n = options.size();
            for (int i = 0; i < n; i++) {
                RouteOption o = options.get((int) ((cursor + i) % n));
                if (o.hasCredit()) {
                    cursor = cursor + i + 1;
                    return Optional.of(o);
                }
            }
            return Optional.empty();
        }
    }

    private static final class LeastLoaded implements RoutingPolicy {
        @Override
        public String name() {
            return "least-loaded";
        }

        @Override
        public Optional<RouteOption> choose(List<RouteOption> options, long nowMs) {
            return options.stream().filter(RouteOption::hasCredit).min(Comparator.comparingDouble(RouteOption::load));
        }
    }

    private static final class RandomChoice implements RoutingPolicy {
        private final SplittableRandom random;

        RandomChoice(long seed) {
            this.random = new SplittableRandom(seed);
        }

        @Override
        public String name() {
            return "random";
        }

        @Override
        public Optional<RouteOption> choose(List<RouteOption> options, long nowMs) {
            List<RouteOption> free = options.stream().filter(RouteOption::hasCredit).toList();
            return free.isEmpty() ? Optional.empty() : Optional.of(free.get(random.nextInt(free.size())));
        }
    }
}
