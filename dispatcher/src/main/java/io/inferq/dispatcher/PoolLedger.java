package io.inferq.dispatcher;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The scheduler's book of one pool: batch credits and what is in flight. The per-instance queues are the
 * scheduler's <em>model</em> of the pool (each instance runs its batches one after another, in dispatch order,
 * and a batch goes to the instance with the least estimated backlog); they only feed estimates, never limits.
 * Not thread-safe: owned by the scheduler's thread.
 */
final class PoolLedger {

    record InFlight(String batchId, int instance, int sequences, long workTokens, double estimatedSeconds,
                    CalibratedServiceTime.Estimate prior) {
    }

    private static final class InstanceQueue {
        final ArrayDeque<InFlight> batches = new ArrayDeque<>();
        long headStartedMs;
        /** When the instance last became busy or last finished a batch: where the span of its next batch end starts. */
        long busySinceMs;
        // batches ended and not yet observed: the sums of their prior parts and of their spans
        CalibratedServiceTime.Estimate pendingPrior = CalibratedServiceTime.Estimate.NONE;
        double pendingSpanS;
        int pendingBatches;
        /**
         * The instance's batches in send order, for prefill observations: an engine prefills the prompts it is sent in
         * that order, so a batch's prefill starts when it arrives or when the previous batch's prefill ended.
         */
        final ArrayDeque<SentPrefill> prefills = new ArrayDeque<>();
        /** When the last drained batch's last first token came (epoch ms; 0 before any). */
        long lastPrefilledAtMs;
        /** False after a batch whose prefill was not observed: the next batch's prefill start is unknown. */
        boolean prefillStartKnown = true;
    }

    /**
     * A batch's prefill as sent, then as observed (prefilledAtMs set when the batch finishes). {@code joinSeconds}: what
     * the first-token prediction adds to the prefill when the engine can start on the batch at once (the decode step of
     * the iteration that completes the prompt, and when the engine is busy the iteration boundary the batch waits for);
     * {@code stepSeconds}: what it adds when the batch queues behind another prefill.
     */
    private static final class SentPrefill {
        final String batchId;
        final long sentAtMs;
        final double priorSeconds;
        final double joinSeconds;
        final double stepSeconds;
        boolean finished;
        /** The batch's last first token, epoch ms; MIN_VALUE: not observed (jobs dropped, no first-token time, aside). */
        long prefilledAtMs = Long.MIN_VALUE;

        SentPrefill(String batchId, long sentAtMs, double priorSeconds, double joinSeconds, double stepSeconds) {
            this.batchId = batchId;
            this.sentAtMs = sentAtMs;
            this.priorSeconds = priorSeconds;
            this.joinSeconds = joinSeconds;
            this.stepSeconds = stepSeconds;
        }
    }

    /** First-token times this far past the batch's send are not a prefill (a clock step, a stalled engine): ignored. */
    static final double MAX_PREFILL_OBSERVATION_SECONDS = 600;

    final PoolProfile profile;
    /** The pool's service time: its profile's model as the prior, calibrated by the batches it ran. */
    final CalibratedServiceTime model;
    final int maxBatchCredits;
    final int maxPerInstance;
    /** Credits shared with other dispatchers ({@link io.inferq.dispatcher.credits.CreditGate#UNSHARED}: none). */
    io.inferq.dispatcher.credits.CreditGate gate = io.inferq.dispatcher.credits.CreditGate.UNSHARED;
    /** Until then the shared gate refused every instance: the pool counts as having no free credit. */
    long gateRefusedUntilMs = Long.MIN_VALUE;
    private int batchCredits;
    private final Map<String, InFlight> inFlight = new HashMap<>();
    private final InstanceQueue[] instances;
    private int inFlightSequences;
    private long inFlightWorkTokens;
    /**
     * Per instance: when (epoch ms, fractional) its engine is predicted to have prefilled every prompt sent to it so far
     * (the prefill clock of {@link #prefillWaitSeconds}). A continuous-batching engine prefills the sequences of one
     * priority in submission order, chunk by chunk, beside the decoding ones, so a batch's first tokens wait for the
     * prompts sent before it, not for their decode.
     */
    private final double[] prefillDoneAtMs;

    PoolLedger(PoolProfile profile, int maxInFlightBatchesPerInstance) {
        this.profile = profile;
        this.model = new CalibratedServiceTime(profile.timeModel());
        this.maxBatchCredits = Math.multiplyExact(profile.instances(), maxInFlightBatchesPerInstance);
        this.batchCredits = maxBatchCredits;
        this.maxPerInstance = maxInFlightBatchesPerInstance;
        this.instances = new InstanceQueue[profile.instances()];
        for (int i = 0; i < instances.length; i++) {
            instances[i] = new InstanceQueue();
        }
        this.prefillDoneAtMs = new double[instances.length];
    }

    /**
     * The instance {@link #add} books a batch on when no shared gate refuses it and no instance holds more of the batch's
     * prefix (least backlog among the instances with room; ties: fewer batches, lower index).
     */
    int plannedInstance(long nowMs) {
        return chooseByBacklog(nowMs, new double[instances.length]);
    }

    /**
     * Estimated seconds until the engine of {@code instance} starts prefilling a batch sent now: the prefill still owed
     * to the prompts sent to it before (its prefill clock less now), 0 when it is caught up.
     */
    double prefillWaitSeconds(int instance, long nowMs) {
        return Math.max(0, prefillDoneAtMs[instance] - nowMs) / 1000.0;
    }

    /** Whether the instance has a batch in flight or prefill owed (its engine is mid-iteration, per this model). */
    boolean busy(int instance, long nowMs) {
        return !instances[instance].batches.isEmpty() || prefillDoneAtMs[instance] > nowMs;
    }

    /** Advances the instance's prefill clock by a batch sent now whose prompts take {@code seconds} to prefill there. */
    void bookPrefill(int instance, double seconds, long nowMs) {
        prefillDoneAtMs[instance] = Math.max(prefillDoneAtMs[instance], nowMs) + Math.max(0, seconds) * 1000.0;
    }

    /**
     * As {@link #bookPrefill(int, double, long)} for batch {@code batchId}, just {@link #add}ed to {@code instance}, and
     * remembers it for a prefill observation when it finishes ({@link #finish(String, long, boolean, long)} with its
     * first-token time): {@code priorSeconds} is the prior's prefill of the batch as predicted now (stretched by the
     * decode steps in flight), {@code stepSeconds} one decode step of the sequences in flight.
     */
    void bookPrefill(int instance, String batchId, double seconds, double priorSeconds, double stepSeconds, long nowMs) {
        // busy before this batch: the engine is mid-iteration, and the batch joins at the next boundary
        boolean busy = instances[instance].batches.size() > 1 || prefillDoneAtMs[instance] > nowMs;
        double join = stepSeconds + (busy ? profile.timeModel().prefillChunkSeconds() + stepSeconds : 0);
        bookPrefill(instance, seconds, nowMs);
        instances[instance].prefills.addLast(new SentPrefill(batchId, nowMs, priorSeconds, join, stepSeconds));
    }

    int freeCredits() {
        return gateRefused ? 0 : Math.max(0, batchCredits - inFlight.size());
    }

    /** Whether the shared gate refused every instance (until {@link #gateRefusedUntilMs}). */
    boolean gateRefused;

    int totalCredits() {
        return batchCredits;
    }

    void setBatchCredits(int credits) {
        this.batchCredits = Math.max(0, Math.min(credits, maxBatchCredits));
    }

    int inFlightBatches() {
        return inFlight.size();
    }

    /** Whether some instance has no batch in flight (per the scheduler's model of the pool). */
    boolean hasIdleInstance() {
        for (InstanceQueue q : instances) {
            if (q.batches.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** Instances with no batch in flight (per the scheduler's model of the pool). */
    int idleInstances() {
        int n = 0;
        for (InstanceQueue q : instances) {
            if (q.batches.isEmpty()) {
                n++;
            }
        }
        return n;
    }

    int inFlightSequences() {
        return inFlightSequences;
    }

    long inFlightWorkTokens() {
        return inFlightWorkTokens;
    }

    /** Estimated seconds until a batch sent now would start: the least-backlogged instance's backlog. */
    double aheadSeconds(long nowMs) {
        double best = Double.MAX_VALUE;
        for (InstanceQueue q : instances) {
            best = Math.min(best, backlogSeconds(q, nowMs));
        }
        return best;
    }

    private static double backlogSeconds(InstanceQueue q, long nowMs) {
        double sum = 0;
        boolean head = true;
        for (InFlight b : q.batches) {
            if (head) {
                double elapsed = Math.max(0, nowMs - q.headStartedMs) / 1000.0;
                sum += Math.max(0, b.estimatedSeconds() - elapsed);
                head = false;
            } else {
                sum += b.estimatedSeconds();
            }
        }
        return sum;
    }

    /**
     * Books a batch on the least-backlogged instance (ties: fewer batches in flight, then the lower index) among those
     * holding fewer than their share of the credits ({@code maxInFlightBatchesPerInstance}) if any does; returns that
     * instance's index.
     */
    int add(String batchId, int sequences, long workTokens, double estimatedSeconds, long nowMs) {
        return add(batchId, sequences, workTokens, estimatedSeconds, nowMs, new int[0], null);
    }

    /**
     * As {@link #add(String, int, long, double, long)}, returning -1 (nothing booked) when a shared
     * {@link #gate} has no credit on any instance; preferring the instance that holds most of the batch's
     * prefix blocks ({@code cachedBlocks[i]}, from engine KV events) among those whose backlog is at most one
     * batch-estimate above the least-backlogged one: a hit saves prefill, but not an unbounded wait.
     */
    int add(String batchId, int sequences, long workTokens, double estimatedSeconds, long nowMs, int[] cachedBlocks,
            CalibratedServiceTime.Estimate prior) {
        double[] backlogs = new double[instances.length];
        int chosen = chooseByBacklog(nowMs, backlogs);
        double best = backlogs[chosen];
        boolean someRoom = someRoom();
        if (cachedBlocks.length == instances.length) {
            int most = cachedBlocks[chosen];
            for (int i = 0; i < instances.length; i++) {
                if (cachedBlocks[i] > most && backlogs[i] <= best + Math.max(0, estimatedSeconds)
                        && (!someRoom || instances[i].batches.size() < maxPerInstance)) {
                    most = cachedBlocks[i];
                    chosen = i;
                }
            }
        }
        if (gate != io.inferq.dispatcher.credits.CreditGate.UNSHARED && !gate.tryAcquire(profile.poolId(), chosen, maxPerInstance)) {
            // another dispatcher holds that instance's credits: the next-least-backlogged instance that has one
            Integer[] order = new Integer[instances.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            java.util.Arrays.sort(order, (a, b) -> Double.compare(backlogs[a], backlogs[b]));
            int taken = -1;
            for (int i : order) {
                if (i != chosen && gate.tryAcquire(profile.poolId(), i, maxPerInstance)) {
                    taken = i;
                    break;
                }
            }
            if (taken < 0) {
                return -1;
            }
            chosen = taken;
        }
        InFlight f = new InFlight(batchId, chosen, sequences, workTokens, estimatedSeconds, prior);
        InstanceQueue q = instances[chosen];
        if (q.batches.isEmpty()) {
            q.headStartedMs = nowMs;
            q.busySinceMs = nowMs;
        }
        q.batches.addLast(f);
        inFlight.put(batchId, f);
        inFlightSequences += sequences;
        inFlightWorkTokens += workTokens;
        return chosen;
    }

    private boolean someRoom() {
        for (InstanceQueue q : instances) {
            if (q.batches.size() < maxPerInstance) {
                return true;
            }
        }
        return false;
    }

    /** The least-backlogged instance among those with room (if any has); fills {@code backlogs} for every instance. */
    private int chooseByBacklog(long nowMs, double[] backlogs) {
        int chosen = -1;
        double best = Double.MAX_VALUE;
        // an instance already holding its share of the credits is passed over while another has room: each of its
        // batch streams is busy, so a batch booked there would wait behind another at the worker
        boolean someRoom = someRoom();
        for (int i = 0; i < instances.length; i++) {
            double backlog = backlogSeconds(instances[i], nowMs);
            backlogs[i] = backlog;
            if (someRoom && instances[i].batches.size() >= maxPerInstance) {
                continue;
            }
            if (chosen < 0) {
                best = backlog;
                chosen = i;
                continue;
            }
            // equal backlogs (typically 0: a batch past its estimate is still in flight until reported): the
            // instance with fewer batches, so an idle instance is not passed over for one still running
            if (backlog < best || backlog == best && instances[i].batches.size() < instances[chosen].batches.size()) {
                best = backlog;
                chosen = i;
            }
        }
        return chosen;
    }

    /**
     * Takes an in-flight batch out of its instance's queue: it runs beside it (a stream of its own in a
     * continuous-batching engine, e.g. on a fair credit) and keeps its credit and in-flight counts, but no longer adds
     * to the instance's backlog ({@link #aheadSeconds}), makes the instance busy, or calibrates the pool when it ends.
     * Call right after {@link #add}; unknown ids are ignored.
     */
    void aside(String batchId) {
        InFlight f = inFlight.get(batchId);
        if (f != null) {
            instances[f.instance()].batches.removeIf(b -> b.batchId().equals(batchId));
            instances[f.instance()].prefills.removeIf(b -> b.batchId.equals(batchId));
        }
    }

    /**
     * Calibrates the pool's model with the batches of {@code q} that ended since its last observation, as one: when as
     * many have ended as the instance runs at once ({@link #maxPerInstance}), or when the instance has none left. On a
     * continuous-batching engine the batches overlap, so one batch's span (since the instance's previous end) can be
     * anything from nothing to its whole run; the spans of as many batches as overlap add up to about their work.
     */
    private void observeEnded(InstanceQueue q) {
        if (q.pendingBatches > 0) {
            model.observe(q.pendingPrior, q.pendingSpanS, q.pendingBatches);
        }
        q.pendingPrior = CalibratedServiceTime.Estimate.NONE;
        q.pendingSpanS = 0;
        q.pendingBatches = 0;
    }

    /** As {@link #finish(String, long, boolean)}, learning from the batch. */
    boolean finish(String batchId, long nowMs) {
        return finish(batchId, nowMs, true);
    }

    /** As {@link #finish(String, long, boolean, long)} with no first-token time (no prefill observation). */
    boolean finish(String batchId, long nowMs, boolean observed) {
        return finish(batchId, nowMs, observed, Long.MIN_VALUE);
    }

    /**
     * Returns the batch's credit. With {@code observed}, a batch of its instance's queue calibrates the pool's
     * {@link #model} with the instance's busy span since its previous batch ended (or since it became busy), so the
     * observed spans sum to the instance's busy time however its batches overlap; pass false when the batch's run does
     * not reflect its estimate (jobs dropped at the worker, cancelled, handed back): its span then counts for no batch.
     * With {@code observed} and {@code prefilledAtMs} (the first token of the batch's last sequence, epoch ms;
     * {@link Long#MIN_VALUE}: unknown), the batch's prefill calibrates the model's prefill latency too
     * ({@link #observePrefills}).
     *
     * @return false if the batch is unknown (already finished, or never sent here)
     */
    boolean finish(String batchId, long nowMs, boolean observed, long prefilledAtMs) {
        InFlight f = inFlight.remove(batchId);
        if (f == null) {
            return false;
        }
        inFlightSequences -= f.sequences();
        inFlightWorkTokens -= f.workTokens();
        gate.release(profile.poolId(), f.instance());
        InstanceQueue q = instances[f.instance()];
        boolean wasHead = !q.batches.isEmpty() && q.batches.peekFirst().batchId().equals(batchId);
        boolean queued = false;
        for (Iterator<InFlight> it = q.batches.iterator(); it.hasNext(); ) {
            if (it.next().batchId().equals(batchId)) {
                it.remove();
                queued = true;
                break;
            }
        }
        if (queued) {
            // every batch of the instance's queue that ends is timed over the busy span since the instance's previous
            // end (or since it became busy), whichever batch that was: on a continuous-batching engine batches overlap
            // and end out of order, and the spans then add up to the instance's busy time while each batch's work is
            // counted once, so the fit learns the instance's throughput without bias
            // — and they are observed in groups: a batch's own span depends on which of the overlapping batches ended
            // just before it, a group's much less (see observeEnded)
            if (observed && f.prior() != null) {
                q.pendingPrior = q.pendingPrior.plus(f.prior());
                q.pendingSpanS += (nowMs - q.busySinceMs) / 1000.0;
                q.pendingBatches++;
            }
            q.busySinceMs = nowMs;
            if (q.pendingBatches >= maxPerInstance || q.batches.isEmpty()) {
                observeEnded(q);
            }
        }
        if (wasHead) {
            q.headStartedMs = nowMs;
        }
        for (SentPrefill p : q.prefills) {
            if (p.batchId.equals(batchId)) {
                p.finished = true;
                p.prefilledAtMs = observed && f.prior() != null ? prefilledAtMs : Long.MIN_VALUE;
                break;
            }
        }
        observePrefills(q);
        return true;
    }

    /**
     * Observes the prefills of the instance's finished batches in send order, up to the first batch still in flight
     * (whose prefill may lie between theirs): batch {@code i}'s prefill took from {@code max(sent_i, prefilled_(i-1))}
     * to {@code prefilled_i}, less what the first-token prediction adds to a prefill (see {@link SentPrefill}). A batch
     * not observed leaves the next one's start unknown, so that one only sets where the following starts. Spans that are
     * not positive or exceed {@value #MAX_PREFILL_OBSERVATION_SECONDS} s (clocks of different hosts, a stalled engine)
     * are skipped. The queue holds the instance's batches in flight and those
     * finished behind one, so it is bounded by the batches in flight.
     */
    private void observePrefills(InstanceQueue q) {
        while (!q.prefills.isEmpty() && q.prefills.peekFirst().finished) {
            SentPrefill p = q.prefills.pollFirst();
            if (p.prefilledAtMs == Long.MIN_VALUE) {
                q.prefillStartKnown = false;
                continue;
            }
            if (q.prefillStartKnown) {
                boolean queued = q.lastPrefilledAtMs > p.sentAtMs;
                double spanS = (p.prefilledAtMs - Math.max(p.sentAtMs, q.lastPrefilledAtMs)) / 1000.0;
                if (spanS > 0 && spanS <= MAX_PREFILL_OBSERVATION_SECONDS) {
                    // at least a tenth of the span stays: a prefill never takes no time
                    double prefillS = Math.max(0.1 * spanS, spanS - (queued ? p.stepSeconds : p.joinSeconds));
                    model.observePrefill(p.priorSeconds, prefillS);
                }
            }
            q.lastPrefilledAtMs = Math.max(q.lastPrefilledAtMs, p.prefilledAtMs);
            q.prefillStartKnown = true;
        }
    }
}
