package io.inferq.workers.engine;

import io.inferq.workers.chips.RooflineModel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * One inference instance as a real engine (vLLM, SGLang) runs it: <b>iteration-level continuous batching with
 * chunked prefill and priority scheduling</b>, timed by the {@link RooflineModel}. The one engine model of inferq:
 * the simulated worker backend drives it in (scaled) real time and the policy simulator in virtual time, so the running
 * system and the simulator agree.
 *
 * <h2>Model</h2>
 * <ul>
 *   <li><b>Iterations.</b> The engine runs one iteration (a forward pass) after another while it has work. Sequences
 *       submitted during an iteration join at the next boundary; none waits for a whole batch to end.</li>
 *   <li><b>Admission</b> at each boundary: waiting sequences in order of (priority, submission) are admitted while the
 *       running set stays within {@link Limits#maxRunningSequences()} and the KV reservations (prompt + output tokens of
 *       every running sequence, as the simulated backend always reserved) within {@link Limits#kvCapacityTokens()}. The
 *       first that does not fit, after preemption (below), stops admission (no lower-priority sequence overtakes
 *       it).</li>
 *   <li><b>Preemption</b> (vLLM's {@code --scheduling-policy priority}, recompute mode): when the first waiting
 *       sequence does not fit (the running set is at its sequence cap or the KV reservations are full) and running
 *       sequences of a strictly lower priority (a larger value) would make room, the lowest-priority running sequence —
 *       the most recently submitted among those of that priority — is preempted, again until the waiting sequence fits:
 *       a {@link #PRIORITY_HIGH} sequence preempts {@link #PRIORITY_BATCH} sequences first, then
 *       {@link #PRIORITY_NORMAL} ones. Its KV is dropped, it goes back to the waiting queue keeping its place (its
 *       priority and submission order) and the tokens it generated, and when readmitted it prefills its uncached
 *       prompt plus those tokens again (charged: recomputation is not free; vLLM's scheduler treats a sequence
 *       preempted for recompute as a new prefill of its prompt and output tokens — a real engine with prefix caching
 *       may find some of its blocks still cached, which this model does not credit). When even preempting every
 *       lower-priority running sequence would not make room, none is preempted (it would cost their recomputation
 *       and admit nothing). Sequences of equal priority never preempt each other, so with all priorities equal the
 *       engine is first-come first-served and never preempts.</li>
 *   <li><b>No aging.</b> As in vLLM, a lower priority is not raised while it waits: a steady stream of higher-priority
 *       sequences filling the sequence cap keeps lower ones waiting (and preempts the ones that were readmitted),
 *       without bound. The engine does not guard against that; the caller bounds the higher-priority work it sends (the
 *       dispatcher sends {@link #PRIORITY_HIGH} only for a tenant below its share, through at most the pool's sequence
 *       cap of fair credits per instance). A preempted sequence keeps its submission order, so the most recently
 *       submitted is preempted first and the oldest work is readmitted first.</li>
 *   <li><b>Token budget</b> ({@link Limits#iterationTokens()}, vLLM's {@code max_num_batched_tokens}): each decoding
 *       sequence takes one token of it, and the rest goes to prefill chunks of running sequences in (priority,
 *       submission) order — so a {@link #PRIORITY_HIGH} prompt is prefilled first, ahead of the chunks of lower
 *       priorities (which wait for a later iteration when the budget runs out), and a long prompt is split over
 *       iterations (chunked prefill) instead of stalling every decoding sequence.</li>
 *   <li><b>Iteration time</b> = {@link RooflineModel#prefillSeconds} of the iteration's prefill tokens + the KV transfer
 *       of cached prefix tokens on a sequence's first chunk + (when any sequence decodes) one
 *       {@link RooflineModel#decodeStepSeconds} over the decoding sequences' contexts (prompt + generated). Additive,
 *       as {@link RooflineModel#estimateBatch} is: compute and memory phases are not assumed to overlap, so
 *       throughput is never flattered. A batch alone in an idle engine takes its
 *       {@link RooflineModel#estimateBatch} time within a few per cent (the same prefill and decode work; a prompt
 *       longer than one chunk adds the decode steps of the sequences already decoding beside its later chunks).</li>
 *   <li><b>Tokens.</b> The iteration that completes a sequence's prefill produces its first token; every iteration it
 *       decodes in produces one more. A sequence finishes with its {@code outputTokens}-th token.</li>
 * </ul>
 *
 * <p>Deterministic: time is given by the caller ({@link #submit}, {@link #advanceTo}), in seconds on one time line.
 * Not thread-safe: confine to one thread or lock around it.
 */
public final class ContinuousBatchingEngine {

    /** Priority of interactive work of a tenant below its share of the fleet (admitted first). */
    public static final int PRIORITY_HIGH = 0;
    /** Priority of other interactive work. */
    public static final int PRIORITY_NORMAL = 1;
    /** Priority of batch-lane work (fills what interactive work leaves; preempted first). */
    public static final int PRIORITY_BATCH = 2;

    /**
     * The engine's scheduler limits.
     *
     * @param maxRunningSequences sequences running at once (vLLM {@code max_num_seqs}), at least 1
     * @param iterationTokens     tokens processed per iteration, decode tokens included (vLLM
     *                            {@code max_num_batched_tokens}); more than {@code maxRunningSequences}, so prefill
     *                            always progresses
     * @param kvCapacityTokens    KV cache of the instance in tokens, at least 1
     */
    public record Limits(int maxRunningSequences, int iterationTokens, long kvCapacityTokens) {
        /** Target time of an iteration's prefill chunk: half the 100 ms time-per-output-token goal (see {@link #of}). */
        public static final double CHUNK_SECONDS = 0.05;
        /** Bounds of the derived sequence cap (vLLM's default {@code max_num_seqs} is 256). */
        public static final int MIN_SEQUENCES = 8;
        public static final int MAX_SEQUENCES = 256;

        public Limits {
            if (maxRunningSequences < 1) {
                throw new IllegalArgumentException("maxRunningSequences must be at least 1, was " + maxRunningSequences);
            }
            if (iterationTokens <= maxRunningSequences) {
                throw new IllegalArgumentException("iterationTokens (" + iterationTokens
                        + ") must exceed maxRunningSequences (" + maxRunningSequences + ")");
            }
            if (kvCapacityTokens < 1) {
                throw new IllegalArgumentException("kvCapacityTokens must be at least 1, was " + kvCapacityTokens);
            }
        }

        /**
         * Limits derived from the roofline:
         * <ul>
         *   <li><b>Sequences</b>: the largest batch whose decode step stays bandwidth-bound — its compute
         *       {@code 2 × active params × n ÷ prefill FLOP/s} at most its weight read {@code active weight bytes ÷
         *       decode bytes/s} — the roofline's ridge point. Up to it, the roofline's assumption that decode compute is
         *       never the bottleneck holds, so running more sequences together is honestly free; beyond it a real engine
         *       would gain little. Clamped to [{@value #MIN_SEQUENCES}, {@value #MAX_SEQUENCES}].</li>
         *   <li><b>Token budget</b>: the prompt tokens the instance prefills in {@link #CHUNK_SECONDS} (rounded up to
         *       256), as Sarathi-Serve chooses its chunk from a time-between-tokens goal: an iteration carrying a
         *       chunk delays every decoding sequence by about that much, so streamed sequences keep well within 100 ms
         *       per token; at least twice the sequence cap.</li>
         *   <li><b>KV</b>: {@link RooflineModel#kvCapacityTokens()}.</li>
         * </ul>
         */
        public static Limits of(RooflineModel r) {
            double ridge = r.activeWeightBytes() / r.decodeBytesPerSecond() * r.prefillFlopsPerSecond()
                    / (2.0 * r.model().activeParams());
            int seqs = (int) Math.max(MIN_SEQUENCES, Math.min(MAX_SEQUENCES, Math.floor(ridge)));
            double perSecond = 1.0 / r.prefillSeconds(1);
            long chunk = (long) Math.ceil(perSecond * CHUNK_SECONDS / 256.0) * 256L;
            int tokens = (int) Math.max(2L * seqs, Math.min(1L << 20, chunk));
            return new Limits(seqs, tokens, Math.max(1, r.kvCapacityTokens()));
        }
    }

    /**
     * A sequence submitted to the engine.
     *
     * @param id           unique among the sequences in the engine
     * @param promptTokens prompt length, at least 0
     * @param cachedTokens leading prompt tokens whose KV is present (not prefilled; their transfer is charged)
     * @param outputTokens tokens to generate, at least 1
     * @param priority     smaller runs first ({@link #PRIORITY_HIGH}, {@link #PRIORITY_NORMAL}, {@link #PRIORITY_BATCH})
     */
    public record Request(String id, int promptTokens, int cachedTokens, int outputTokens, int priority) {
        public Request {
            Objects.requireNonNull(id, "id");
            if (promptTokens < 0 || cachedTokens < 0 || cachedTokens > promptTokens || outputTokens < 1) {
                throw new IllegalArgumentException("sequence " + id + ": inconsistent token counts (prompt " + promptTokens
                        + ", cached " + cachedTokens + ", output " + outputTokens + ")");
            }
        }
    }

    /** What happened to a sequence, and when (engine seconds). */
    public enum Kind {
        /** First admitted to the running set (its queue wait in the engine ends). */
        ADMITTED,
        /** Produced its first token. */
        FIRST_TOKEN,
        /** Preempted by higher-priority work: back to the waiting queue, to be prefilled again. */
        PREEMPTED,
        /** Produced its last token and left. */
        FINISHED
    }

    /** One event: {@code generated} tokens so far (for streaming). */
    public record Event(Kind kind, String id, double atSeconds, int generated) {
    }

    private static final class Seq {
        final Request r;
        final long order;
        final long reserve;
        int generated;
        long prefillLeft;
        boolean transferPending;
        boolean admitted;
        boolean finished;
        // the current iteration's share
        int chunk;
        boolean decoding;

        Seq(Request r, long order, long kvCapacity) {
            this.r = r;
            this.order = order;
            this.reserve = Math.min(kvCapacity, (long) r.promptTokens() + r.outputTokens());
            this.prefillLeft = r.promptTokens() - r.cachedTokens();
            this.transferPending = r.cachedTokens() > 0;
        }
    }

    private static final Comparator<Seq> BY_PRIORITY = Comparator.<Seq>comparingInt(s -> s.r.priority())
            .thenComparingLong(s -> s.order);

    private final RooflineModel roofline;
    private final Limits limits;
    private final double slowdown;
    private final TreeSet<Seq> waiting = new TreeSet<>(BY_PRIORITY);
    private final TreeSet<Seq> running = new TreeSet<>(BY_PRIORITY);
    private final Map<String, Seq> byId = new HashMap<>();
    private long nextOrder;
    private long kvReserved;
    private double now;
    private double iterationEnd = Double.NaN;
    private double busySeconds;
    private long iterations;
    private long preemptions;

    /** An engine with limits derived from the roofline, running as fast as it says. */
    public ContinuousBatchingEngine(RooflineModel roofline) {
        this(roofline, Limits.of(roofline), 1.0);
    }

    /**
     * @param slowdown how many times slower than the roofline the engine really runs (1 = as it says)
     */
    public ContinuousBatchingEngine(RooflineModel roofline, Limits limits, double slowdown) {
        this.roofline = Objects.requireNonNull(roofline, "roofline");
        this.limits = Objects.requireNonNull(limits, "limits");
        if (!(slowdown > 0) || Double.isInfinite(slowdown)) {
            throw new IllegalArgumentException("slowdown must be positive and finite, was " + slowdown);
        }
        this.slowdown = slowdown;
    }

    public Limits limits() {
        return limits;
    }

    public RooflineModel roofline() {
        return roofline;
    }

    /**
     * Submits a sequence at {@code atSeconds} (not before the engine's current time; earlier counts as now). An idle
     * engine starts an iteration at once; a busy one admits it at the next iteration boundary.
     *
     * @return the events up to and at {@code atSeconds} (of iterations that ended by then, and this admission)
     */
    public List<Event> submit(Request request, double atSeconds) {
        return submit(List.of(request), atSeconds);
    }

    /**
     * Submits several sequences at {@code atSeconds} together, as one batch arrives: an idle engine starts its first
     * iteration with all of them (submitted one by one, the first would run an iteration alone). Otherwise as
     * {@link #submit(Request, double)}.
     *
     * @throws IllegalArgumentException if an id is already in the engine or repeated (nothing is submitted then)
     */
    public List<Event> submit(List<Request> requests, double atSeconds) {
        Set<String> ids = new HashSet<>();
        for (Request r : requests) {
            if (byId.containsKey(r.id()) || !ids.add(r.id())) {
                throw new IllegalArgumentException("sequence " + r.id() + " is already in the engine");
            }
        }
        List<Event> events = advanceTo(atSeconds);
        for (Request r : requests) {
            Seq s = new Seq(r, nextOrder++, limits.kvCapacityTokens());
            byId.put(r.id(), s);
            waiting.add(s);
        }
        if (idle() && !requests.isEmpty()) {
            now = Math.max(now, atSeconds);
            startIteration(events);
        }
        return events;
    }

    /** Removes a sequence (its caller gave up on it); its KV is freed at once. @return whether it was here */
    public boolean remove(String id) {
        Seq s = byId.remove(id);
        if (s == null) {
            return false;
        }
        if (waiting.remove(s)) {
            return true;
        }
        running.remove(s);
        kvReserved -= s.reserve;
        s.finished = true; // if in the current iteration, it no longer produces anything
        return true;
    }

    /**
     * Runs every iteration that ends at or before {@code atSeconds}; an idle engine's time moves to {@code atSeconds}.
     *
     * @return the events of those iterations, in time order
     */
    public List<Event> advanceTo(double atSeconds) {
        List<Event> events = new ArrayList<>();
        while (!idle() && iterationEnd <= atSeconds) {
            now = iterationEnd;
            iterationEnd = Double.NaN;
            endIteration(events);
            startIteration(events);
        }
        if (idle()) {
            now = Math.max(now, atSeconds);
        }
        return events;
    }

    /** When the running iteration ends ({@link Double#POSITIVE_INFINITY} when idle): the next time anything happens. */
    public double nextEventSeconds() {
        return idle() ? Double.POSITIVE_INFINITY : iterationEnd;
    }

    /** Whether no iteration is running (nothing admitted, nothing waiting). */
    public boolean idle() {
        return Double.isNaN(iterationEnd);
    }

    /** The engine's time: the last iteration boundary, or the last time it was told while idle. */
    public double nowSeconds() {
        return now;
    }

    /**
     * @return the tokens sequence {@code id} has generated so far (kept across a preemption), or -1 when it is not in
     *         the engine (finished, removed or never submitted)
     */
    public int generated(String id) {
        Seq s = byId.get(id);
        return s == null ? -1 : s.generated;
    }

    public int runningSequences() {
        return running.size();
    }

    public int waitingSequences() {
        return waiting.size();
    }

    /** KV tokens reserved by running sequences. */
    public long kvReservedTokens() {
        return kvReserved;
    }

    /** Seconds spent in iterations so far (for utilisation). */
    public double busySeconds() {
        return busySeconds;
    }

    public long iterations() {
        return iterations;
    }

    public long preemptions() {
        return preemptions;
    }

    // ------------------------------------------------------------------ one iteration

    private void startIteration(List<Event> events) {
        admit(events);
        if (running.isEmpty()) {
            iterationEnd = Double.NaN;
            return;
        }
        int budget = limits.iterationTokens();
        long decodeContext = 0;
        int decoders = 0;
        for (Seq s : running) {
            s.chunk = 0;
            s.decoding = s.prefillLeft == 0 && s.generated > 0;
            if (s.decoding) {
                decoders++;
                budget--;
                decodeContext += (long) s.r.promptTokens() + s.generated;
            }
        }
        long prefillTokens = 0;
        double seconds = 0;
        for (Seq s : running) {
            if (s.decoding) {
                continue;
            }
            if (budget <= 0) {
                break;
            }
            // a sequence with nothing left to prefill (fully cached prompt) still needs a pass for its first token
            int chunk = (int) Math.min(s.prefillLeft, budget);
            s.chunk = Math.max(chunk, 0);
            budget -= Math.max(1, chunk);
            prefillTokens += chunk;
            if (s.transferPending) {
                seconds += roofline.kvTransferSecondsForTokens(s.r.cachedTokens());
                s.transferPending = false;
            }
            s.chunk = chunk;
            s.decoding = false;
            markPrefilling(s);
        }
        seconds += roofline.prefillSeconds(prefillTokens);
        if (decoders > 0) {
            seconds += roofline.decodeStepSeconds(decodeContext);
        }
        seconds *= slowdown;
        if (!(seconds > 0)) {
            seconds = 1e-9; // never a zero-length iteration
        }
        busySeconds += seconds;
        iterations++;
        iterationEnd = now + seconds;
    }

    /** Sequences taking part in the current iteration's prefill (chunk possibly 0 for a fully cached prompt). */
    private final List<Seq> prefilling = new ArrayList<>();

    private void markPrefilling(Seq s) {
        prefilling.add(s);
    }

    private void endIteration(List<Event> events) {
        List<Seq> done = new ArrayList<>();
        for (Seq s : running) {
            if (s.decoding) {
                s.generated++;
                if (s.generated >= s.r.outputTokens()) {
                    done.add(s);
                }
            }
        }
        for (Seq s : prefilling) {
            if (s.finished || !running.contains(s)) {
                continue;
            }
            s.prefillLeft -= s.chunk;
            s.chunk = 0;
            if (s.prefillLeft <= 0) {
                s.prefillLeft = 0;
                s.generated++;
                if (s.generated == 1) {
                    events.add(new Event(Kind.FIRST_TOKEN, s.r.id(), now, 1));
                }
                if (s.generated >= s.r.outputTokens()) {
                    done.add(s);
                }
            }
        }
        prefilling.clear();
        for (Seq s : done) {
            running.remove(s);
            byId.remove(s.r.id());
            kvReserved -= s.reserve;
            s.finished = true;
            events.add(new Event(Kind.FINISHED, s.r.id(), now, s.generated));
        }
    }

    private void admit(List<Event> events) {
        while (!waiting.isEmpty()) {
            Seq w = waiting.first();
            if (!fits(w)) {
                if (!preemptionMakesRoom(w)) {
                    return; // strict order: nothing behind it is admitted first
                }
                while (!fits(w)) {
                    preempt(running.last(), events); // lowest priority, most recently submitted
                }
            }
            waiting.pollFirst();
            running.add(w);
            kvReserved += w.reserve;
            if (!w.admitted) {
                w.admitted = true;
                events.add(new Event(Kind.ADMITTED, w.r.id(), now, w.generated));
            }
        }
    }

    /**
     * Whether preempting running sequences of a strictly lower priority than {@code w}, from the lowest (the most
     * recently submitted first), makes it fit; {@code running.last()} is always such a sequence while it does not fit.
     */
    private boolean preemptionMakesRoom(Seq w) {
        int count = running.size();
        long kv = kvReserved;
        for (Seq victim : running.descendingSet()) {
            if (victim.r.priority() <= w.r.priority()) {
                return false;
            }
            count--;
            kv -= victim.reserve;
            if (count < limits.maxRunningSequences() && kv + w.reserve <= limits.kvCapacityTokens()) {
                return true;
            }
        }
        return false;
    }

    private boolean fits(Seq w) {
        return running.size() < limits.maxRunningSequences() && kvReserved + w.reserve <= limits.kvCapacityTokens();
    }

    private void preempt(Seq victim, List<Event> events) {
        running.remove(victim);
        kvReserved -= victim.reserve;
        // recompute: its KV is gone; the uncached prompt and the tokens it generated are prefilled again
        victim.prefillLeft = (long) victim.r.promptTokens() - victim.r.cachedTokens() + victim.generated;
        victim.transferPending = victim.r.cachedTokens() > 0;
        waiting.add(victim);
        preemptions++;
        events.add(new Event(Kind.PREEMPTED, victim.r.id(), now, victim.generated));
    }
}
