package io.inferq.loadtests.policy;

import io.inferq.dispatcher.PoolProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToIntFunction;

/**
 * Where a {@link PolicySimulator} run's nominal capacity went: an exact decomposition of the fleet's nominal capacity
 * over the trace's span (the figure the loads are multiples of, {@link PolicySimulator#capacityJobsPerSecond}) into
 * the good jobs and the losses, all in <em>nominal job-equivalents</em>: an instance-second of pool {@code p} is worth
 * {@code r_p} jobs, the jobs per instance-second of a full batch of the trace's mean request on that pool (so
 * {@code Σ instances_p × r_p} is the nominal capacity).
 *
 * <p>With {@code S} the span and {@code B_b} the time batch {@code b} kept its instance busy,
 * {@code nominal = Σ_p r_p (instances_p × S) = Σ_p r_p (idle_p + busy_p in [0, S])}, and
 * {@code Σ_b r_p B_b = ran + Σ_b r_p (B_b − |b| ÷ r_p)}, so
 * <pre>
 *   nominal = good + late + idle(no work | hopeless | held | no credit) − overtime
 *             + size + underfill + padding + cache + other
 * </pre>
 * where, per batch, the difference between its time and its jobs' nominal time is split along a chain of roofline
 * counterfactuals (each term is the change of the batch's time from one to the next):
 * <ul>
 *   <li>{@code cache}: as run (cached prefixes read) → every prompt token prefilled (negative: time saved);</li>
 *   <li>{@code padding}: → the same number of sequences, each of the batch's mean prompt and mean output (the static
 *       batch runs until its longest output is done, so spread outputs cost decode steps with few sequences);</li>
 *   <li>{@code underfill}: → the share {@code |b| ÷ n} of a full batch of those mean sequences, {@code n} = the pool's
 *       sequence cap or as many as its token budget takes;</li>
 *   <li>{@code size}: → {@code |b| ÷ r_p}, the nominal time of {@code |b|} mean jobs of the trace (negative when the
 *       batch's jobs are cheaper than the trace's mean job).</li>
 * </ul>
 * Idle instance-time within the span is classified at each moment by the queue: {@code no work} (nothing queued),
 * {@code hopeless} (jobs queued, but none could still meet its TTFT deadline if this pool started it alone now: its
 * prefill alone ends after the deadline, or its prompt exceeds the pool's budget), {@code held} (such a job is queued
 * and the pool has a free batch credit: the dispatcher chose to wait, e.g. for a faster pool or a fuller batch),
 * {@code no credit} (such a job is queued but every credit of the pool is taken). {@code late} = jobs that ran and
 * missed an SLO (counted one each, their excess time is in the batch terms); {@code overtime} = busy time after the
 * span (work of the span done later, which counts toward goodput). {@code other} = engines slower than their roofline
 * plus millisecond rounding, and closes the identity.
 *
 * <p>Not thread-safe; one instance per run. The simulator calls {@link #queued}, {@link #left}, {@link #advanceTo}
 * (before each event) and {@link #batch}.
 */
public final class CapacityAccount {

    /** The decomposition, in nominal job-equivalents over the span (see the class doc), and job counts. */
    public record Breakdown(double spanSeconds, double nominal, int good, int lateRan, double idleNoWork,
                            double idleHopeless, double idleHeld, double idleNoCredit, double overtime, double size,
                            double underfill, double padding, double cache, double other,
                            Map<String, Double> idleShareByPool, Map<String, Double> sequencesPerBatch) {

        /** Terms in print order; they sum to {@link #nominal}. */
        public double[] terms() {
            return new double[] {good, lateRan, idleNoWork, idleHopeless, idleHeld, idleNoCredit, -overtime, size,
                    underfill, padding, cache, other};
        }

        /** The sum of the terms (equals {@link #nominal} up to floating point). */
        public double sum() {
            double s = 0;
            for (double t : terms()) {
                s += t;
            }
            return s;
        }

        /** Header of {@link #row}. */
        public static String header() {
            return String.format(Locale.ROOT, "%6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s",
                    "good%", "late%", "noWrk%", "hopls%", "held%", "noCrd%", "ovrtm%", "size%", "under%", "pad%",
                    "cache%", "other%");
        }

        /** Every term as a percentage of the nominal capacity. */
        public String row() {
            StringBuilder sb = new StringBuilder();
            for (double t : terms()) {
                sb.append(String.format(Locale.ROOT, "%6.1f ", 100 * t / nominal));
            }
            return sb.toString().trim();
        }
    }

    private static final class Pool {
        final String id;
        final int instances;
        final RooflineModel roofline;
        final int budget;
        final int seqCap;
        final double rate;
        final double prefillMsPerToken;
        final long[] freeAtMs;
        /** Multiset of the latest start (ms) at which each queued job could still make its deadline here. */
        final TreeMap<Long, Integer> latestStarts = new TreeMap<>();
        double idleNoWork;
        double idleHopeless;
        double idleHeld;
        double idleNoCredit;
        double busyIn;
        double busyOut;
        double size;
        double underfill;
        double padding;
        double cache;
        double other;
        int batches;
        long sequences;

        Pool(PoolProfile p, RooflineModel r, double rate) {
            this.id = p.poolId();
            this.instances = p.instances();
            this.roofline = r;
            this.budget = p.maxBatchTokens();
            this.seqCap = p.maxConcurrentSequences();
            this.rate = rate;
            this.prefillMsPerToken = r.prefillSeconds(1) * 1000;
            this.freeAtMs = new long[p.instances()];
        }

        Long latestStart(int prompt, long deadlineMs) {
            return prompt > budget ? null : deadlineMs - (long) Math.ceil(prompt * prefillMsPerToken);
        }
    }

    private final Map<String, Pool> pools = new LinkedHashMap<>();
    private final long spanMs;
    private final ToIntFunction<String> freeCredits;
    private final Map<Integer, long[]> queued = new java.util.HashMap<>();
    private long lastMs;
    private int good;
    private int lateRan;

    /**
     * @param sim         the simulator (fleet, rooflines)
     * @param trace       the run's (scaled) trace: its mean request sets each pool's nominal rate, its last arrival the span
     * @param freeCredits the scheduler's free batch credits of a pool, now
     */
    public CapacityAccount(PolicySimulator sim, List<TraceRequest> trace, ToIntFunction<String> freeCredits) {
        this.spanMs = Math.max(1, trace.get(trace.size() - 1).arrivalMs());
        this.freeCredits = freeCredits;
        Map<String, Double> rates = nominalRates(sim, trace);
        for (PoolProfile p : sim.poolProfiles()) {
            pools.put(p.poolId(), new Pool(p, sim.roofline(p.poolId()), rates.get(p.poolId())));
        }
    }

    /**
     * Nominal jobs per instance-second of each pool for {@code trace}'s mean request ({@link
     * PolicySimulator#instanceJobsPerSecond}; for the static model {@code n ÷ T(n)}, a batch of {@code n} mean requests,
     * n = sequence cap, or as many as the token budget takes), as {@link PolicySimulator#capacityJobsPerSecond} (which
     * is {@code Σ instances × rate}).
     */
    public static Map<String, Double> nominalRates(PolicySimulator sim, List<TraceRequest> trace) {
        double meanIn = trace.stream().mapToInt(TraceRequest::inputTokens).average().orElse(1);
        double meanOut = trace.stream().mapToInt(TraceRequest::outputTokens).average().orElse(1);
        Map<String, Double> out = new LinkedHashMap<>();
        for (PoolProfile p : sim.poolProfiles()) {
            out.put(p.poolId(), sim.instanceJobsPerSecond(p.poolId(), meanIn, 0.0, meanOut));
        }
        return out;
    }

    /** Job {@code index} entered the dispatcher's queue. */
    public void queued(int index, int promptTokens, long deadlineMs) {
        long[] keys = new long[pools.size()];
        int i = 0;
        for (Pool p : pools.values()) {
            Long k = p.latestStart(promptTokens, deadlineMs);
            keys[i++] = k == null ? Long.MIN_VALUE : k;
            if (k != null) {
                p.latestStarts.merge(k, 1, Integer::sum);
            }
        }
        queued.put(index, keys);
    }

    /** Job {@code index} left the queue (sent in a batch, or expired). Unknown indexes are ignored. */
    public void left(int index) {
        long[] keys = queued.remove(index);
        if (keys == null) {
            return;
        }
        int i = 0;
        for (Pool p : pools.values()) {
            long k = keys[i++];
            if (k != Long.MIN_VALUE) {
                p.latestStarts.computeIfPresent(k, (x, n) -> n == 1 ? null : n - 1);
            }
        }
    }

    /**
     * Attributes the idle instance-time from the previous call to {@code nowMs} (within the span), by the queue as it
     * has stood since then. Call before the event at {@code nowMs} changes anything.
     */
    public void advanceTo(long nowMs) {
        long from = lastMs;
        long to = Math.min(nowMs, spanMs);
        if (to > from) {
            for (Pool p : pools.values()) {
                long eligibleUntil = p.latestStarts.isEmpty() ? Long.MIN_VALUE : p.latestStarts.lastKey();
                boolean credit = freeCredits.applyAsInt(p.id) > 0;
                for (long free : p.freeAtMs) {
                    long a = Math.max(from, free);
                    if (a >= to) {
                        continue;
                    }
                    double idle = (to - a) / 1000.0;
                    if (queued.isEmpty()) {
                        p.idleNoWork += idle;
                        continue;
                    }
                    double eligible = Math.max(0, Math.min(to, eligibleUntil) - a) / 1000.0;
                    p.idleHopeless += idle - eligible;
                    if (credit) {
                        p.idleHeld += eligible;
                    } else {
                        p.idleNoCredit += eligible;
                    }
                }
            }
        }
        lastMs = Math.max(lastMs, nowMs);
    }

    /**
     * A batch ran on {@code instance} of {@code poolId} from {@code startMs} to {@code endMs}.
     *
     * @param shapes    its jobs as run (cached tokens as read)
     * @param estimate  the roofline's time for {@code shapes}, seconds (before any slowdown)
     * @param good      how many of its jobs met both SLOs
     */
    public void batch(String poolId, int instance, long startMs, long endMs, List<SequenceShape> shapes, double estimate,
                      int good) {
        Pool p = pools.get(poolId);
        p.freeAtMs[instance] = Math.max(p.freeAtMs[instance], endMs);
        double b = (endMs - startMs) / 1000.0;
        double in = Math.max(0, Math.min(endMs, spanMs) - startMs) / 1000.0;
        p.busyIn += in;
        p.busyOut += b - in;
        int n = shapes.size();
        List<SequenceShape> full = new ArrayList<>(n);
        long promptSum = 0;
        long outSum = 0;
        for (SequenceShape s : shapes) {
            full.add(new SequenceShape(s.promptTokens(), 0, s.outputTokens()));
            promptSum += s.promptTokens();
            outSum += s.outputTokens();
        }
        double t1 = p.roofline.estimateBatch(full).totalSeconds();
        int meanIn = (int) Math.max(1, Math.round((double) promptSum / n));
        int meanOut = (int) Math.max(1, Math.round((double) outSum / n));
        double t2 = p.roofline.estimateBatch(java.util.Collections.nCopies(n, new SequenceShape(meanIn, 0, meanOut)))
                .totalSeconds();
        int cap = (int) Math.max(n, Math.max(1, Math.min(p.seqCap, (double) p.budget / meanIn)));
        double t3 = (double) n / cap * p.roofline.estimateBatch(
                java.util.Collections.nCopies(cap, new SequenceShape(meanIn, 0, meanOut))).totalSeconds();
        double t4 = n / p.rate;
        p.other += b - estimate;
        p.cache += estimate - t1;
        p.padding += t1 - t2;
        p.underfill += t2 - t3;
        p.size += t3 - t4;
        p.batches++;
        p.sequences += n;
        this.good += good;
        this.lateRan += n - good;
    }

    /** The decomposition; call once the run has ended (after the last event). */
    public Breakdown breakdown() {
        advanceTo(spanMs);
        double span = spanMs / 1000.0;
        double nominal = 0;
        double[] t = new double[10];
        Map<String, Double> idleShare = new LinkedHashMap<>();
        Map<String, Double> perBatch = new LinkedHashMap<>();
        for (Pool p : pools.values()) {
            double r = p.rate;
            nominal += r * p.instances * span;
            double idleCats = p.idleNoWork + p.idleHopeless + p.idleHeld + p.idleNoCredit;
            double idle = p.instances * span - p.busyIn;
            t[0] += r * p.idleNoWork;
            t[1] += r * p.idleHopeless;
            t[2] += r * p.idleHeld;
            t[3] += r * p.idleNoCredit;
            t[4] += r * p.busyOut;
            t[5] += r * p.size;
            t[6] += r * p.underfill;
            t[7] += r * p.padding;
            t[8] += r * p.cache;
            t[9] += r * (p.other + (idle - idleCats));
            idleShare.put(p.id, idle / (p.instances * span));
            perBatch.put(p.id, p.batches == 0 ? 0 : (double) p.sequences / p.batches);
        }
        return new Breakdown(span, nominal, good, lateRan, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9],
                java.util.Collections.unmodifiableMap(idleShare), java.util.Collections.unmodifiableMap(perBatch));
    }
}
