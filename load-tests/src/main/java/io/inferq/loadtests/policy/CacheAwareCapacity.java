package io.inferq.loadtests.policy;

import java.util.List;
import java.util.Locale;

/**
 * A fleet's capacity for a trace's mean request, nominal (every prompt token prefilled, as
 * {@link PolicySimulator#capacityJobsPerSecond}) and with the prefix cache's effect: the same roofline estimate
 * with the fraction of prompt tokens the cache served in a measured run ({@link PolicySimulator.Result#prefixHitRatio})
 * not prefilled. A load multiplier L × nominal is then L × nominal ÷ with-cache of the capacity the fleet really
 * has on that trace; tools print both.
 *
 * @param nominalJobsPerSecond   capacity with no cache hits
 * @param withCacheJobsPerSecond capacity with {@code hitRatio} of prompt tokens served from the cache
 * @param hitRatio               cached ÷ prompt tokens, as measured
 * @param measuredAt             how the hit ratio was measured (for the printed line)
 */
public record CacheAwareCapacity(double nominalJobsPerSecond, double withCacheJobsPerSecond, double hitRatio,
                                 String measuredAt) {

    /** Capacity of {@code sim}'s fleet for {@code trace}'s mean request with {@code hitRatio} of its prompt cached. */
    public static double jobsPerSecond(PolicySimulator sim, List<TraceRequest> trace, double hitRatio) {
        if (!(hitRatio >= 0 && hitRatio < 1)) {
            throw new IllegalArgumentException("hitRatio must be in [0, 1), was " + hitRatio);
        }
        return sim.capacityJobsPerSecond(trace, hitRatio);
    }

    /**
     * Measures: runs {@code policy} (prefix-aware) on {@code trace} scaled to 1× nominal capacity and takes the hit
     * ratio of that run. A trace without prefix information has a hit ratio of 0 (with-cache = nominal) and is not run.
     */
    public static CacheAwareCapacity measure(PolicySimulator sim, List<TraceRequest> trace, String policy) {
        double nominal = sim.capacityJobsPerSecond(trace);
        if (trace.stream().allMatch(t -> t.blockHashes().isEmpty())) {
            return new CacheAwareCapacity(nominal, nominal, 0, "no prefix information in the trace");
        }
        double hit = sim.run(sim.scaleToLoad(trace, 1.0), policy, true).prefixHitRatio();
        hit = Double.isFinite(hit) ? Math.min(0.99, Math.max(0, hit)) : 0;
        return new CacheAwareCapacity(nominal, jobsPerSecond(sim, trace, hit), hit, policy + " at 1× nominal");
    }

    /** {@code load} × nominal as a multiple of the with-cache capacity. */
    public double withCacheLoad(double nominalLoad) {
        return nominalLoad * nominalJobsPerSecond / withCacheJobsPerSecond;
    }

    /** One printable line, with the given loads stated both ways. */
    public String describe(String trace, double[] loads) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "CAPACITY %s: nominal %.2f jobs/s; with the prefix cache %.2f jobs/s (hit ratio %.1f%%, %s)", trace,
                nominalJobsPerSecond, withCacheJobsPerSecond, hitRatio * 100, measuredAt));
        if (loads.length > 0) {
            sb.append("; loads nominal → with-cache:");
            for (double l : loads) {
                sb.append(String.format(Locale.ROOT, " %.2gx → %.2fx", l, withCacheLoad(l)));
            }
        }
        return sb.toString();
    }
}
