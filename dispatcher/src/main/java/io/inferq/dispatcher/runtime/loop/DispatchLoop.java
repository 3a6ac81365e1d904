package io.inferq.dispatcher.runtime.loop;

import io.inferq.dispatcher.Admission;
import io.inferq.dispatcher.BatchPlan;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.QueuedJob;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiPredicate;

/**
 * The one dispatch loop: <b>admit → enqueue → expire → form → send</b>, run by the dispatcher service
 * ({@code DispatcherVerticle}, over Kafka) and by the policy simulator (in virtual time) alike, so what the simulator
 * measures is what production runs. Everything outside the decision — where jobs come from, where batches and
 * outcomes go, how time passes — is injected: {@link Effects} receives every decision, and {@link Wakeup} is asked to
 * call {@link #decide} again at the scheduler's {@link DispatchScheduler#nextDecisionAtMs next decision time}. There
 * is no fixed poll: the loop decides when a job arrives (the caller calls {@link #decide} after a batch of
 * {@link #offer}s), when a batch finishes ({@link #batchFinished}), when credits change, and at the wake-up time.
 *
 * <h2>Admission</h2>
 * Each offered job goes through {@link DispatchScheduler#admit}: a prompt no pool can take, a tenant over its
 * queued-token quota ({@code dispatcher.tenant-queued-tokens}) or a deadline the predicted wait already misses is
 * refused ({@link Effects#refused}; the runtime ends the job, {@code expired}/{@code deadline_exceeded} for a
 * deadline). A full queue is not a refusal: the job waits in a side queue (bounded by the caller's intake window,
 * {@code maxHeld}) and is admitted when space frees, so excess work waits upstream (in Kafka), where priority still
 * applies.
 *
 * <h2>Handles</h2>
 * Each queued job carries the caller's handle {@code H} (the Kafka record and its poll loop in production, a trace
 * index in the simulator), handed back with the decision that ends the job's stay here.
 *
 * <h2>Threading</h2>
 * Not thread-safe: confine every call to one thread (the verticle's context, or the simulator's loop). Effects are
 * called on that thread, synchronously, and must not block.
 *
 * @param <H> what the caller needs back to finish a job (its record, its index)
 */
public final class DispatchLoop<H> {

    /** Where the loop's decisions go. Called on the loop's thread; must not block. */
    public interface Effects<H> {
        /** Send {@code plan}; {@code handles} are its jobs' handles, in plan order (a job without one is left out). */
        void send(BatchPlan plan, List<QueuedJob> jobs, List<H> handles, long nowMs);

        /** The job's deadline passed, or its predicted wait misses it, while queued: end it {@code expired}. */
        void expired(QueuedJob job, H handle, long nowMs);

        /** Admission refused the job ({@link Admission.Rejected#code()} says why): end it. */
        void refused(QueuedJob job, H handle, Admission.Rejected why, long nowMs);
    }

    /** Asks the runtime to call {@link #decide} at {@code atMs} ({@link Long#MAX_VALUE}: no timer needed). */
    @FunctionalInterface
    public interface Wakeup {
        void at(long atMs);
    }

    /** What became of an offered job. */
    public enum Offer {
        /** Queued. */
        QUEUED,
        /** The same job id is queued already; the caller decides what to do with this copy. */
        DUPLICATE,
        /** The queue is full: held aside until space frees. */
        HELD,
        /** Refused by admission ({@link Effects#refused} was called). */
        REFUSED
    }

    private record Held<H>(QueuedJob job, H handle, boolean admitted) {
    }

    private final DispatchScheduler scheduler;
    private final Effects<H> effects;
    private final Wakeup wakeup;
    private final int maxHeld;
    private final Map<String, H> handles = new HashMap<>();
    private final Map<String, QueuedJob> jobs = new HashMap<>();
    private final ArrayDeque<Held<H>> held = new ArrayDeque<>();
    private long wakeAtMs = Long.MAX_VALUE;
    private long decisions;

    /**
     * @param scheduler the decisions (confined to the loop's thread from now on)
     * @param effects   where decisions go
     * @param wakeup    the timer: one pending wake-up at a time, the latest request replaces the earlier
     * @param maxHeld   jobs held aside while the queue is full, at most (the caller's intake window keeps below it)
     */
    public DispatchLoop(DispatchScheduler scheduler, Effects<H> effects, Wakeup wakeup, int maxHeld) {
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler must not be null");
        this.effects = Objects.requireNonNull(effects, "effects must not be null");
        this.wakeup = Objects.requireNonNull(wakeup, "wakeup must not be null");
        if (maxHeld < 0) {
            throw new IllegalArgumentException("maxHeld must not be negative, was " + maxHeld);
        }
        this.maxHeld = maxHeld;
    }

    /**
     * Offers a job: admission, then the queue. Call {@link #decide} after a batch of offers.
     *
     * @throws IllegalStateException if the queue is full and {@code maxHeld} jobs are already held (the caller's
     *                               intake is not bounded as promised)
     */
    public Offer offer(QueuedJob job, H handle, long nowMs) {
        if (jobs.containsKey(job.jobId()) || heldContains(job.jobId())) {
            return Offer.DUPLICATE;
        }
        if (!held.isEmpty() || scheduler.queuedJobs() >= scheduler.config().maxQueuedJobs()) {
            hold(new Held<>(job, handle, false));
            return Offer.HELD;
        }
        return admitAndQueue(job, handle, nowMs);
    }

    /**
     * Puts back a job that was planned into a batch that could not be sent (the write failed): it was admitted
     * already, so it is queued again without admission (held aside if the queue is full).
     */
    public void requeue(QueuedJob job, H handle) {
        if (jobs.containsKey(job.jobId())) {
            return;
        }
        if (scheduler.queuedJobs() >= scheduler.config().maxQueuedJobs()) {
            held.addFirst(new Held<>(job, handle, true));
            return;
        }
        enqueue(job, handle);
    }

    private Offer admitAndQueue(QueuedJob job, H handle, long nowMs) {
        Admission a = scheduler.admit(job, nowMs);
        if (a instanceof Admission.Rejected r) {
            effects.refused(job, handle, r, nowMs);
            return Offer.REFUSED;
        }
        enqueue(job, handle);
        return Offer.QUEUED;
    }

    private void enqueue(QueuedJob job, H handle) {
        if (scheduler.enqueue(job)) {
            handles.put(job.jobId(), handle);
            jobs.put(job.jobId(), job);
        }
    }

    private void hold(Held<H> h) {
        if (held.size() >= maxHeld) {
            throw new IllegalStateException("the dispatcher queue is full and " + maxHeld
                    + " jobs are held aside already; intake must pause before this");
        }
        held.add(h);
    }

    private boolean heldContains(String jobId) {
        if (held.isEmpty()) {
            return false;
        }
        for (Held<H> h : held) {
            if (h.job().jobId().equals(jobId)) {
                return true;
            }
        }
        return false;
    }

    /**
     * One decision at {@code nowMs}: expire due jobs, form and send batches, admit held jobs into freed space, and
     * ask for a wake-up at the next decision time.
     */
    public void decide(long nowMs) {
        decisions++;
        for (QueuedJob expired : scheduler.expireDue(nowMs)) {
            jobs.remove(expired.jobId());
            H h = handles.remove(expired.jobId());
            effects.expired(expired, h, nowMs);
        }
        formAndSend(nowMs);
        boolean admittedHeld = false;
        while (!held.isEmpty() && scheduler.queuedJobs() < scheduler.config().maxQueuedJobs()) {
            Held<H> h = held.poll();
            if (h.admitted()) {
                enqueue(h.job(), h.handle());
            } else {
                admitAndQueue(h.job(), h.handle(), nowMs);
            }
            admittedHeld = true;
        }
        if (admittedHeld) {
            // newly queued work may be ready at once (an idle instance): decide again rather than wait for a timer
            formAndSend(nowMs);
        }
        long next = scheduler.nextDecisionAtMs(nowMs);
        if (next != wakeAtMs || next == Long.MAX_VALUE) {
            wakeAtMs = next;
            wakeup.at(next);
        }
    }

    private void formAndSend(long nowMs) {
        for (BatchPlan plan : scheduler.formBatches(nowMs)) {
            List<QueuedJob> carried = new ArrayList<>(plan.jobs().size());
            List<H> hs = new ArrayList<>(plan.jobs().size());
            for (QueuedJob j : plan.jobs()) {
                jobs.remove(j.jobId());
                if (handles.containsKey(j.jobId())) {
                    carried.add(j);
                    hs.add(handles.remove(j.jobId()));
                }
            }
            effects.send(plan, carried, hs, nowMs);
        }
    }

    /**
     * A batch's credit came back; decides at once (freed credits may let held work go).
     *
     * @param ranAsEstimated every job of the batch ran on the pool (its time calibrates the pool's service time)
     */
    public void batchFinished(String poolId, String batchId, long nowMs, boolean ranAsEstimated) {
        batchFinished(poolId, batchId, nowMs, ranAsEstimated, Long.MIN_VALUE);
    }

    /**
     * As {@link #batchFinished(String, String, long, boolean)}; {@code prefilledAtMs}: when the batch's last sequence got
     * its first token (epoch ms; {@link Long#MIN_VALUE}: unknown), which calibrates the pool's time to first token
     * ({@link DispatchScheduler#batchFinished(String, String, long, boolean, long)}).
     */
    public void batchFinished(String poolId, String batchId, long nowMs, boolean ranAsEstimated, long prefilledAtMs) {
        scheduler.batchFinished(poolId, batchId, nowMs, ranAsEstimated, prefilledAtMs);
        decide(nowMs);
    }

    /**
     * The runtime's timer fired (at the time asked for, or earlier: a runtime may cap its timers): decides, and asks
     * again for the next wake-up, since the timer that fired is spent.
     */
    public void wake(long nowMs) {
        wakeAtMs = Long.MIN_VALUE;
        decide(nowMs);
    }

    /**
     * Removes a queued (or held) job that was cancelled.
     *
     * @return its handle, or null if it was not waiting here
     */
    public H cancel(String jobId) {
        if (jobs.containsKey(jobId)) {
            if (!scheduler.cancel(jobId)) {
                return null;
            }
            jobs.remove(jobId);
            return handles.remove(jobId);
        }
        return removeHeld(jobId);
    }

    /**
     * Removes a queued (or held) job this loop no longer owns (its partition moved, or it ended elsewhere).
     *
     * @return its handle, or null if it was not waiting here
     */
    public H withdraw(String jobId) {
        if (jobs.containsKey(jobId)) {
            if (!scheduler.withdraw(jobId)) {
                return null;
            }
            jobs.remove(jobId);
            return handles.remove(jobId);
        }
        return removeHeld(jobId);
    }

    /** Withdraws every waiting job whose handle matches (a rebalance took their partitions); returns how many. */
    public int withdrawIf(BiPredicate<QueuedJob, H> lost) {
        int n = 0;
        for (String id : List.copyOf(jobs.keySet())) {
            if (lost.test(jobs.get(id), handles.get(id)) && withdraw(id) != null) {
                n++;
            }
        }
        int before = held.size();
        held.removeIf(h -> lost.test(h.job(), h.handle()));
        return n + before - held.size();
    }

    private H removeHeld(String jobId) {
        for (var it = held.iterator(); it.hasNext(); ) {
            Held<H> h = it.next();
            if (h.job().jobId().equals(jobId)) {
                it.remove();
                return h.handle();
            }
        }
        return null;
    }

    /** The handle of a queued job, or null. */
    public H handle(String jobId) {
        return handles.get(jobId);
    }

    /** Replaces the handle of a queued job (the same record delivered again after a rebalance). */
    public void replaceHandle(String jobId, H handle) {
        if (handles.containsKey(jobId)) {
            handles.put(jobId, handle);
        }
    }

    /** Whether the job is queued or held here. */
    public boolean isWaiting(String jobId) {
        return jobs.containsKey(jobId) || heldContains(jobId);
    }

    /** Jobs held aside while the queue is full. */
    public int held() {
        return held.size();
    }

    /** The wake-up time last asked for ({@link Long#MAX_VALUE}: none). */
    public long wakeAtMs() {
        return wakeAtMs;
    }

    /** Decisions taken (for tests and metrics: no fixed poll, so this counts events, not time). */
    public long decisions() {
        return decisions;
    }

    public DispatchScheduler scheduler() {
        return scheduler;
    }
}
