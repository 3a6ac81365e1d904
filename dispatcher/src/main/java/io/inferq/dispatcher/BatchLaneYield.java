package io.inferq.dispatcher;

import java.util.Arrays;

/**
 * Batch-lane yield: paces the batch-lane jobs a dispatcher sends by the delay interactive requests meet on their way
 * in, so a large batch takes what the control plane (broker, dispatcher, workers' hosts) can spare rather than all of
 * it. A delay-based scavenger after LEDBAT (RFC 6817): the interactive lane is the foreground flow, the batch lane
 * the background one.
 *
 * <h2>Signal</h2>
 * Each interactive request gives one sample, {@link #interactiveIntake}: the time from its record's creation (the
 * ingress's clock) to its intake on the dispatcher's context (this dispatcher's clock). The <em>base delay</em> is the
 * smallest sample of the last {@value #BASE_HISTORY_BUCKETS} × {@value #BASE_BUCKET_MS} ms (LEDBAT's base history,
 * shorter), so a constant clock offset between hosts cancels out; the <em>queuing delay</em> of a sample is the sample
 * minus the base delay: what the work in the way added.
 *
 * <h2>Control (AIMD)</h2>
 * <ul>
 *   <li>A queuing delay above the target halves the pace (at most once per {@value #CUT_INTERVAL_MS} ms, from the
 *       lower of the pace and the batch lane's measured rate), never below {@value #MIN_JOBS_PER_SECOND} job/s: the
 *       batch lane always progresses.</li>
 *   <li>A queuing delay at or below the target raises the pace, in proportion to how far below the target the sample
 *       lies (LEDBAT's off-target gain) and to the time since the previous sample (at most {@value #GAIN_STEP_MS} ms
 *       of it): by {@value #GAIN_PER_SECOND} of itself per second of samples with no queuing at all. Only while the pace
 *       held the lane back in the last {@value #RATE_WINDOW_SECONDS} s: a pace the lane does not use (it waits for
 *       credits) cannot pile up. So a batch that arrives while interactive work flows starts from the pace the lane
 *       last had and grows at most that fast (a slow start).</li>
 *   <li>While no interactive request came for {@value #IDLE_MS} ms the lane is not paced: with no interactive work
 *       the batch lane takes everything (a batch alone is never slower for this). The first sample after that starts
 *       the pace at the rate the batch lane reached over those seconds.</li>
 * </ul>
 * The pace is a token bucket of batch-lane jobs: a batch goes when the bucket is not in debt and takes its jobs out
 * of it (so a batch larger than the bucket still goes, and the next waits until the debt is paid); the bucket holds
 * at most {@value #BURST_MS} ms of the pace.
 *
 * <p><b>Threading.</b> Not thread-safe: confine to the dispatcher's context (or the simulator's loop). Time is given by
 * the caller (a fake clock in tests). No allocation per call.
 *
 * <p><b>Failure behaviour.</b> Samples from a clock that jumps back or a record with no creation time are ignored by
 * the caller's choice of samples; a negative sample only lowers the base delay (each base bucket ages out). The pace
 * never stops the batch lane ({@value #MIN_JOBS_PER_SECOND} job/s at least), so a wrong signal slows batches, never
 * strands them.
 */
public final class BatchLaneYield {
    /** Base history: buckets of the smallest sample. */
    static final int BASE_HISTORY_BUCKETS = 6;
    /** Width of one base-history bucket. */
    static final long BASE_BUCKET_MS = 10_000;
    /** At most one cut per this long: about the time a cut takes to show in the samples. */
    static final long CUT_INTERVAL_MS = 200;
    /** Raise of the pace per second of samples with no queuing delay, as a fraction of itself. */
    static final double GAIN_PER_SECOND = 0.5;
    /** A sample stands for at most this much time since the previous one (a lull does not raise the pace at once). */
    static final long GAIN_STEP_MS = 1_000;
    /** The pace never goes below this. */
    static final double MIN_JOBS_PER_SECOND = 1;
    /** Without interactive samples for this long the batch lane is not paced. */
    public static final long IDLE_MS = 10_000;
    /** The bucket holds at most this much of the pace. */
    static final long BURST_MS = 250;
    /** The batch lane's rate is measured over this many full seconds (a batch of many jobs goes in one lump). */
    static final int RATE_WINDOW_SECONDS = 5;

    /** A debt this small is paid: the bucket is refilled in many small steps of floating-point arithmetic. */
    private static final double ROUNDING_JOBS = 1e-6;

    private final long targetDelayMs;
    private final long[] baseMin = new long[BASE_HISTORY_BUCKETS];
    private final long[] baseBucketOf = new long[BASE_HISTORY_BUCKETS];
    private long lastSampleMs = Long.MIN_VALUE;
    /** The last time the pace held the batch lane back ({@link #open} false). */
    private long heldAtMs = Long.MIN_VALUE;
    private long lastCutMs = Long.MIN_VALUE;
    private double pace = Double.POSITIVE_INFINITY;
    private double tokens;
    private long refilledAtMs;
    private final long[] jobsInSecond = new long[RATE_WINDOW_SECONDS + 1];
    private long rateSecond = Long.MIN_VALUE;
    private long cuts;

    /**
     * @param targetDelayMs the queuing delay interactive intake may meet before the batch lane yields; &gt; 0
     */
    public BatchLaneYield(long targetDelayMs) {
        if (targetDelayMs <= 0) {
            throw new IllegalArgumentException("targetDelayMs must be > 0, was " + targetDelayMs);
        }
        this.targetDelayMs = targetDelayMs;
        Arrays.fill(baseBucketOf, Long.MIN_VALUE);
    }

    /** @return the queuing delay the interactive intake may meet before the batch lane yields, ms */
    public long targetDelayMs() {
        return targetDelayMs;
    }

    /**
     * One interactive request taken in: {@code delayMs} from its record's creation to its intake.
     *
     * @param delayMs the sample (may be negative with clock offset between hosts)
     * @param nowMs   this dispatcher's clock
     */
    public void interactiveIntake(long delayMs, long nowMs) {
        rollRate(nowMs);
        long bucket = Math.floorDiv(nowMs, BASE_BUCKET_MS);
        int slot = (int) Math.floorMod(bucket, (long) BASE_HISTORY_BUCKETS);
        if (baseBucketOf[slot] != bucket) {
            baseBucketOf[slot] = bucket;
            baseMin[slot] = delayMs;
        } else {
            baseMin[slot] = Math.min(baseMin[slot], delayMs);
        }
        long base = Long.MAX_VALUE;
        for (int i = 0; i < BASE_HISTORY_BUCKETS; i++) {
            if (baseBucketOf[i] > bucket - BASE_HISTORY_BUCKETS) {
                base = Math.min(base, baseMin[i]);
            }
        }
        boolean wasIdle = !paced(nowMs);
        long sinceLastMs = wasIdle ? 0 : Math.min(GAIN_STEP_MS, Math.max(0, nowMs - lastSampleMs));
        lastSampleMs = nowMs;
        if (wasIdle) {
            pace = Math.max(MIN_JOBS_PER_SECOND, recentRate());
            tokens = 0;
            refilledAtMs = nowMs;
            return;
        }
        refill(nowMs);
        double queuing = delayMs - base;
        if (queuing > targetDelayMs) {
            if (lastCutMs == Long.MIN_VALUE || nowMs - lastCutMs >= CUT_INTERVAL_MS) {
                lastCutMs = nowMs;
                cuts++;
                pace = Math.max(MIN_JOBS_PER_SECOND, Math.min(pace, Math.max(recentRate(), MIN_JOBS_PER_SECOND)) / 2);
                tokens = Math.min(tokens, 0);
            }
        } else if (heldAtMs != Long.MIN_VALUE && nowMs - heldAtMs <= RATE_WINDOW_SECONDS * 1000L) {
            pace *= 1 + GAIN_PER_SECOND * (targetDelayMs - queuing) / targetDelayMs * sinceLastMs / 1000.0;
        }
    }

    /** @return whether a batch-lane batch may go now */
    public boolean open(long nowMs) {
        if (!inDebt(nowMs)) {
            return true;
        }
        heldAtMs = nowMs;
        return false;
    }

    /** The batch lane sent a batch of {@code jobs} jobs now. */
    public void dispatched(int jobs, long nowMs) {
        rollRate(nowMs);
        jobsInSecond[(int) Math.floorMod(rateSecond, (long) jobsInSecond.length)] += jobs;
        if (paced(nowMs)) {
            refill(nowMs);
            tokens -= jobs;
        }
    }

    /** @return when {@link #open} turns true again if it is false now; {@code nowMs} or earlier if it is open */
    public long opensAtMs(long nowMs) {
        if (!inDebt(nowMs)) {
            return nowMs;
        }
        long wait = (long) Math.ceil(-tokens * 1000 / pace);
        // the pace lifts when interactive work has been idle long enough: never wait past that
        return Math.min(nowMs + Math.max(1, wait), lastSampleMs + IDLE_MS + 1);
    }

    /** @return the pace in batch-lane jobs per second; infinite when the lane is not paced */
    public double jobsPerSecond(long nowMs) {
        return paced(nowMs) ? pace : Double.POSITIVE_INFINITY;
    }

    /** @return halvings of the pace so far */
    public long cuts() {
        return cuts;
    }

    /** @return whether the lane is paced and its bucket, refilled to now, is in debt */
    private boolean inDebt(long nowMs) {
        if (!paced(nowMs)) {
            return false;
        }
        refill(nowMs);
        return tokens < -ROUNDING_JOBS;
    }

    private boolean paced(long nowMs) {
        return lastSampleMs != Long.MIN_VALUE && nowMs - lastSampleMs <= IDLE_MS;
    }

    private void refill(long nowMs) {
        if (nowMs > refilledAtMs) {
            tokens = Math.min(pace * BURST_MS / 1000.0, tokens + pace * (nowMs - refilledAtMs) / 1000.0);
            refilledAtMs = nowMs;
        }
    }

    /** Moves the rate window to the current second, clearing the seconds it skipped. */
    private void rollRate(long nowMs) {
        long second = Math.floorDiv(nowMs, 1000L);
        if (rateSecond == Long.MIN_VALUE || second - rateSecond > jobsInSecond.length) {
            Arrays.fill(jobsInSecond, 0);
        } else {
            for (long s = rateSecond + 1; s <= second; s++) {
                jobsInSecond[(int) Math.floorMod(s, (long) jobsInSecond.length)] = 0;
            }
        }
        rateSecond = Math.max(rateSecond, second);
    }

    /** @return batch-lane jobs per second over the last {@value #RATE_WINDOW_SECONDS} full seconds */
    private double recentRate() {
        long sum = 0;
        for (int i = 1; i <= RATE_WINDOW_SECONDS; i++) {
            sum += jobsInSecond[(int) Math.floorMod(rateSecond - i, (long) jobsInSecond.length)];
        }
        return (double) sum / RATE_WINDOW_SECONDS;
    }
}
