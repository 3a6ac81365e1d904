package io.inferq.workers.backend;

import io.inferq.workers.chips.BatchEstimate;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import io.inferq.workers.engine.ContinuousBatchingEngine;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A backend that runs nothing: it takes as long as a {@link RooflineModel} says the work would take on the pool's
 * chips, divided by a time-scale factor, and answers with text that says it is simulated. The embedded default and the
 * capacity planner of load tests.
 *
 * <h2>Behaviour</h2>
 * <ul>
 *   <li><b>Output length</b>: every sequence generates exactly {@code maxTokens} tokens and finishes with
 *       {@code finish_reason = "length"} (or {@code "stop"}, its text cut, when it holds a {@code stop} string of
 *       the request; {@code seed} is honoured trivially: the text is a function of the request). Deterministic and equal to what a cost model predicts from the
 *       request; a trace replay sets {@code max_tokens} to the trace's output length.</li>
 *   <li><b>Text</b>: {@code "[simulated deepseek-r1 on 4 × Huawei Ascend 910B] ..."} naming the job and the
 *       token counts; a function of the request only.</li>
 *   <li><b>Timing</b>, by {@link EngineModel}:
 *     <ul>
 *       <li>{@link EngineModel#CONTINUOUS} (the default): each pool instance ({@link BatchWork#instance()}) has one
 *           {@link ContinuousBatchingEngine}, created when the instance's first batch arrives, which every batch on
 *           that instance shares, as a real engine's batches do: a batch's sequences are submitted at once with the
 *           batch's {@link BatchWork#priority()} and join the running ones at the next iteration boundary (iteration-
 *           level batching, chunked prefill, higher priorities admitted first, lower-priority running sequences
 *           preempted for them). Engine time is the injected clock's elapsed time since the instance's engine was made × {@code
 *           timeScale}. A sequence's first token is stamped at its engine {@code FIRST_TOKEN} event, its finish at
 *           {@code FINISHED}, both converted back to the clock's time (so a late-woken thread does not shift them);
 *           {@link #run} returns when every sequence of the batch has finished.</li>
 *       <li>{@link EngineModel#STATIC}: each batch as if it had its instance alone — prefill of all uncached prompt
 *           tokens of the batch, then batched decode steps ({@link RooflineModel#estimateBatch}). Every sequence's
 *           first token is stamped when prefill ends, its finish when its last decode step ends. If the batch's
 *           prompts plus outputs exceed the instance's KV capacity, it runs in consecutive waves that fit (in batch
 *           order). Batches sent to one instance at once do not slow each other down.</li>
 *     </ul>
 *     Real time = simulated time ÷ {@code timeScale}; timestamps come from the injected clock.</li>
 *   <li><b>Refusals</b>, as a real engine would answer {@code 400}/{@code 404}: a sequence asking for a
 *       model other than the pool's ({@code model_not_found}), or whose prompt + {@code maxTokens} exceed
 *       the model's context or the instance's whole KV capacity ({@code context_length_exceeded}), fails
 *       at once with a {@link InferenceError.Fatal} without entering the engine or delaying the others. Nothing else
 *       fails.</li>
 * </ul>
 *
 * <p><b>Threading.</b> {@link #run} may be called from any number of slot threads at once, several for one instance,
 * and blocks the caller until its batch is done. {@link EngineModel#STATIC} keeps no state between calls. With
 * {@link EngineModel#CONTINUOUS} each instance's engine is guarded by its own lock, and there is no thread of the
 * backend's own: the callers waiting on an instance drive its engine. One of them at a time is the instance's
 * <em>driver</em>: it sleeps (lock released, on the injected clock) until the engine's next iteration boundary or the
 * next stream report, whichever comes first, then advances the engine to the clock's time and delivers the events to
 * their batches (stamps, streamed text, outcomes), waking the callers whose batch is done. The others wait on the
 * instance's condition until their batch is done or the driver's own batch is (the driver then hands the role on). A
 * submission never needs to wake the driver: a new sequence joins the engine at the next iteration boundary, which is
 * what the driver sleeps until (a new sequence's stream reports start at its first token, a boundary too), and an idle
 * engine has no driver. Nothing busy-waits. Only one thread sleeps per instance, so a {@link ManualClock} advances
 * exactly to each event of one instance; drivers of several instances on one manual clock add their sleeps up (see
 * {@link ManualClock}), which shifts when events are delivered but not their stamps. State is bounded by the sequences
 * the callers have submitted and not collected. {@link TokenSink}s are called under the instance's lock (they must not block).
 *
 * <p><b>Failure.</b> Interruption of {@link #run} (a slot giving up on shutdown or a lost lease) removes the batch's
 * unfinished sequences from the engine, which frees their KV at once, and propagates as {@link InterruptedException};
 * the other batches continue.
 */
public final class SimulatedBackend implements InferenceBackend {

    /** How the backend times a batch (see the class comment). */
    public enum EngineModel {
        /** One continuous-batching engine per instance shared by the batches on it: iteration-level batching. */
        CONTINUOUS,
        /** Each batch alone: prefill all, then decode ({@link RooflineModel#estimateBatch}). */
        STATIC;

        /** @return the model named {@code continuous} or {@code static} (any case) */
        public static EngineModel byName(String name) {
            for (EngineModel m : values()) {
                if (m.configName().equalsIgnoreCase(name)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown simulated engine model '" + name + "' (continuous or static)");
        }

        /** @return the name in configuration: {@code continuous} or {@code static} */
        public String configName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final RooflineModel roofline;
    private final double timeScale;
    private final Clock clock;
    private final EngineModel engineModel;
    /** The continuous model's engines by instance index, made on first use (bounded by the instances batches name). */
    private final Map<Integer, InstanceEngine> engines = new ConcurrentHashMap<>();
    /** Makes engine sequence ids unique when a job runs again (a retry, a batch handed back). */
    private final AtomicLong submissions = new AtomicLong();

    /** A backend with the {@link EngineModel#CONTINUOUS} engine model. */
    public SimulatedBackend(RooflineModel roofline, double timeScale, Clock clock) {
        this(roofline, timeScale, clock, EngineModel.CONTINUOUS);
    }

    /**
     * @param roofline    the instance's chips and model (one instance; every instance of a pool is alike)
     * @param timeScale   how many times faster than real time to run, e.g. 60 replays an hour in a minute;
     *                    positive and finite
     * @param clock       the clock to sleep on and stamp with
     * @param engineModel how batches are timed
     */
    public SimulatedBackend(RooflineModel roofline, double timeScale, Clock clock, EngineModel engineModel) {
        this.roofline = Objects.requireNonNull(roofline, "roofline");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.engineModel = Objects.requireNonNull(engineModel, "engineModel");
        if (!(timeScale > 0) || Double.isInfinite(timeScale)) {
            throw new IllegalArgumentException("timeScale must be positive and finite, was " + timeScale);
        }
        this.timeScale = timeScale;
    }

    public RooflineModel roofline() {
        return roofline;
    }

    public double timeScale() {
        return timeScale;
    }

    public EngineModel engineModel() {
        return engineModel;
    }

    @Override
    public List<SequenceOutcome> run(BatchWork batch) throws InterruptedException {
        return run(batch, TokenSink.NONE);
    }

    /**
     * Streamed sequences ({@link SequenceWork#streamTokens()}) report their text at the modelled decode rate: the first
     * piece at the first token, then every {@value #STREAM_TICK_MS} ms of real time the share of the text that matches
     * the share of the sequence's tokens generated ({@link EngineModel#STATIC}: of its decode time elapsed), the rest at
     * its finish.
     */
    @Override
    public List<SequenceOutcome> run(BatchWork batch, TokenSink sink) throws InterruptedException {
        if (engineModel == EngineModel.CONTINUOUS) {
            if (Thread.interrupted()) {
                throw new InterruptedException(); // before anything reaches the engine
            }
            return start(batch, sink).await();
        }
        return runStatic(batch, sink);
    }

    /**
     * The first half of a {@link EngineModel#CONTINUOUS} {@link #run}: refuses what it must and submits the rest of
     * the batch to its instance's engine at the clock's time, without waiting. {@code run} is {@code start(..).await()};
     * tests use the halves to submit at chosen times of a {@link ManualClock}.
     */
    Submitted start(BatchWork batch, TokenSink sink) {
        if (engineModel != EngineModel.CONTINUOUS) {
            throw new IllegalStateException("only the continuous engine model submits without waiting");
        }
        Submitted submitted = new Submitted(batch, sink);
        if (submitted.unfinished > 0) {
            engines.computeIfAbsent(batch.instance(), i -> new InstanceEngine()).submit(submitted);
        }
        return submitted;
    }

    /** The number of sequences in {@code instance}'s engine (running or waiting); 0 before it has one. For tests. */
    int sequencesInEngine(int instance) {
        return (int) readEngine(instance, e -> e.runningSequences() + e.waitingSequences());
    }

    /** Sequences {@code instance}'s engine has preempted so far; 0 before it has one. For tests. */
    long preemptions(int instance) {
        return readEngine(instance, ContinuousBatchingEngine::preemptions);
    }

    private long readEngine(int instance, java.util.function.ToLongFunction<ContinuousBatchingEngine> read) {
        InstanceEngine e = engines.get(instance);
        if (e == null) {
            return 0;
        }
        e.lock.lock();
        try {
            return read.applyAsLong(e.engine);
        } finally {
            e.lock.unlock();
        }
    }

    /** The static model: the batch alone on its instance, in waves when it exceeds the KV capacity. */
    private List<SequenceOutcome> runStatic(BatchWork batch, TokenSink sink) throws InterruptedException {
        List<SequenceWork> sequences = batch.sequences();
        SequenceOutcome[] outcomes = new SequenceOutcome[sequences.size()];
        List<List<Integer>> waves = new ArrayList<>();
        List<Integer> wave = new ArrayList<>();
        long waveTokens = 0;
        long capacity = roofline.kvCapacityTokens();
        for (int i = 0; i < sequences.size(); i++) {
            SequenceWork s = sequences.get(i);
            InferenceError refusal = refusal(s);
            if (refusal != null) {
                outcomes[i] = new SequenceOutcome.Failed(s.jobId(), refusal);
                continue;
            }
            long tokens = (long) s.promptTokens() + s.maxTokens();
            if (!wave.isEmpty() && waveTokens + tokens > capacity) {
                waves.add(wave);
                wave = new ArrayList<>();
                waveTokens = 0;
            }
            wave.add(i);
            waveTokens += tokens;
        }
        if (!wave.isEmpty()) {
            waves.add(wave);
        }

        long startNanos = ManualClock.nanoTime(clock);
        double waveStartSeconds = 0;
        double tick = STREAM_TICK_MS / 1000.0 * timeScale; // simulated seconds between two reports
        for (List<Integer> members : waves) {
            List<SequenceShape> shapes = members.stream().map(i -> shape(sequences.get(i))).toList();
            BatchEstimate estimate = roofline.estimateBatch(shapes);
            double prefillEnd = waveStartSeconds + estimate.prefillSeconds();
            sleepUntil(startNanos, prefillEnd);
            long firstTokenAt = clock.millis();
            for (int i : members) {
                sink.prefilled(sequences.get(i).jobId());
            }
            String[][] texts = new String[members.size()][];
            int[] sent = new int[members.size()];
            boolean streams = false;
            for (int k = 0; k < members.size(); k++) {
                SequenceWork s = sequences.get(members.get(k));
                texts[k] = text(s, batch.instance());
                streams |= s.streamTokens();
            }
            double[] finish = new double[members.size()];
            for (int k = 0; k < members.size(); k++) {
                finish[k] = waveStartSeconds + estimate.finishSeconds().get(k);
            }
            if (streams) {
                report(sink, sequences, members, texts, sent, finish, prefillEnd, prefillEnd);
            }
            Integer[] order = new Integer[members.size()];
            Arrays.setAll(order, k -> k);
            Arrays.sort(order, Comparator.comparingDouble(k -> finish[k]));
            double next = prefillEnd;
            for (int k : order) {
                while (streams && next + tick < finish[k]) {
                    next += tick;
                    sleepUntil(startNanos, next);
                    report(sink, sequences, members, texts, sent, finish, prefillEnd, next);
                }
                sleepUntil(startNanos, finish[k]);
                int index = members.get(k);
                SequenceWork s = sequences.get(index);
                if (s.streamTokens() && sent[k] < texts[k][0].length()) {
                    sink.tokens(s.jobId(), texts[k][0].substring(sent[k]));
                    sent[k] = texts[k][0].length();
                }
                outcomes[index] = new SequenceOutcome.Completed(s.jobId(), texts[k][0], texts[k][1], s.promptTokens(),
                        s.maxTokens(), s.cachedPrefixTokens(), firstTokenAt, clock.millis());
            }
            waveStartSeconds += estimate.totalSeconds();
        }
        return List.of(outcomes);
    }

    /** Real time between two text reports of a streamed sequence. */
    static final long STREAM_TICK_MS = 25;
    private static final long STREAM_TICK_NANOS = STREAM_TICK_MS * 1_000_000L;

    /** Reports, for each streamed sequence of the wave not yet finished, the text its decode progress at {@code at} covers. */
    private static void report(TokenSink sink, List<SequenceWork> sequences, List<Integer> members, String[][] texts,
            int[] sent, double[] finish, double prefillEnd, double at) {
        for (int k = 0; k < members.size(); k++) {
            SequenceWork s = sequences.get(members.get(k));
            if (!s.streamTokens() || at >= finish[k]) {
                continue;
            }
            String text = texts[k][0];
            double decode = finish[k] - prefillEnd;
            double share = decode <= 0 ? 1 : Math.max((at - prefillEnd) / decode, 1.0 / s.maxTokens());
            // at least one character with the first token, so the caller's time to first token is the modelled one
            int upTo = Math.max(Math.min(1, text.length()),
                    (int) Math.min(text.length(), Math.floor(text.length() * Math.min(1, share))));
            if (upTo > sent[k]) {
                sink.tokens(s.jobId(), text.substring(sent[k], upTo));
                sent[k] = upTo;
            }
        }
    }

    private InferenceError refusal(SequenceWork s) {
        long kvCapacityTokens = roofline.kvCapacityTokens();
        ModelProfile model = roofline.model();
        if (!model.name().equals(s.model())) {
            return new InferenceError.Fatal("invalid_request_error", "model_not_found",
                    "The model '" + s.model() + "' does not exist on this pool; it serves '" + model.name() + "'.");
        }
        long requested = (long) s.promptTokens() + s.maxTokens();
        long limit = Math.min(model.maxContextTokens(), kvCapacityTokens);
        if (requested > limit) {
            return new InferenceError.Fatal("invalid_request_error", "context_length_exceeded",
                    "This model's maximum context length is " + limit + " tokens"
                            + (limit < model.maxContextTokens() ? " (the KV cache capacity of this instance)" : "")
                            + ". However, you requested " + requested + " tokens (" + s.promptTokens()
                            + " in the messages, " + s.maxTokens() + " in the completion).");
        }
        return null;
    }

    private static SequenceShape shape(SequenceWork s) {
        return new SequenceShape(s.promptTokens(), s.cachedPrefixTokens(), s.maxTokens());
    }

    private void sleepUntil(long startNanos, double simulatedSeconds) throws InterruptedException {
        long target = startNanos + (long) (simulatedSeconds / timeScale * 1e9);
        long remaining = target - ManualClock.nanoTime(clock);
        if (remaining > 0) {
            ManualClock.sleepNanos(clock, remaining);
        }
    }

    /**
     * @return the sequence's text and finish reason: {@code length}, or {@code stop} when the text holds one of the
     *         request's {@code stop} strings (cut before it)
     */
    private String[] text(SequenceWork s, int instance) {
        String text = "[simulated " + roofline.model().name() + " on " + roofline.chips() + " × "
                + roofline.chip().name() + ", instance " + instance + "] " + s.maxTokens()
                + " simulated tokens for job " + s.jobId() + " (prompt " + s.promptTokens() + " tokens, "
                + s.cachedPrefixTokens() + " from cache).";
        int cut = -1;
        for (String stop : stopStrings(s.optionsJson())) {
            int at = stop.isEmpty() ? -1 : text.indexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        return cut < 0 ? new String[] {text, "length"} : new String[] {text.substring(0, cut), "stop"};
    }

    /** Parameters this backend honours besides the basic ones (others are refused at submit). */
    public static final java.util.Set<String> HONOURED_OPTIONS = java.util.Set.of("stop", "seed", "max_completion_tokens");

    private static List<String> stopStrings(String optionsJson) {
        if (optionsJson == null) {
            return List.of();
        }
        Object stop = new io.vertx.core.json.JsonObject(optionsJson).getValue("stop");
        if (stop instanceof String one) {
            return List.of(one);
        }
        List<String> out = new ArrayList<>();
        if (stop instanceof io.vertx.core.json.JsonArray many) {
            many.forEach(o -> {
                if (o instanceof String str) {
                    out.add(str);
                }
            });
        }
        return out;
    }

    // ------------------------------------------------------------------ the continuous engine model

    /**
     * A batch submitted to its instance's engine: its outcomes so far and its streamed text. Guarded by the instance's
     * lock once submitted.
     */
    final class Submitted {
        private static final long NOT_YET = Long.MIN_VALUE;
        private final BatchWork batch;
        private final TokenSink sink;
        private final SequenceOutcome[] outcomes;
        /** Engine sequence id by index in the batch; null for a refused sequence. */
        private final String[] ids;
        /** Text and finish reason by index (null for a refused sequence). */
        private final String[][] texts;
        /** Characters of the text already handed to the sink. */
        private final int[] sent;
        private final long[] firstTokenAtMs;
        private InstanceEngine instance;
        /** The clock's epoch ms at submission: no stamp is earlier, whatever the rounding between clock and engine. */
        private long submittedAtMs;
        private int unfinished;

        private Submitted(BatchWork batch, TokenSink sink) {
            this.batch = batch;
            this.sink = Objects.requireNonNull(sink, "sink");
            int n = batch.sequences().size();
            outcomes = new SequenceOutcome[n];
            ids = new String[n];
            texts = new String[n][];
            sent = new int[n];
            firstTokenAtMs = new long[n];
            Arrays.fill(firstTokenAtMs, NOT_YET);
            for (int i = 0; i < n; i++) {
                SequenceWork s = batch.sequences().get(i);
                InferenceError refusal = refusal(s);
                if (refusal != null) {
                    outcomes[i] = new SequenceOutcome.Failed(s.jobId(), refusal);
                    continue;
                }
                ids[i] = batch.batchId() + "/" + s.jobId() + "#" + submissions.incrementAndGet();
                texts[i] = text(s, batch.instance());
                unfinished++;
            }
        }

        /**
         * Blocks until every sequence of the batch has finished, driving the instance's engine while no other caller
         * does (see the class comment).
         *
         * @return outcomes in the order of the batch's sequences
         * @throws InterruptedException when interrupted: the batch's unfinished sequences have left the engine
         */
        List<SequenceOutcome> await() throws InterruptedException {
            if (instance == null) {
                return List.of(outcomes); // every sequence was refused
            }
            instance.lock.lock();
            try {
                instance.awaitDone(this);
                return List.of(outcomes);
            } finally {
                instance.lock.unlock();
            }
        }

        private void firstToken(int i, long atMs, long atNanos) {
            boolean first = firstTokenAtMs[i] == NOT_YET; // a preempted sequence is prefilled again: reported once
            firstTokenAtMs[i] = Math.max(atMs, submittedAtMs);
            SequenceWork s = batch.sequences().get(i);
            if (first) {
                sink.prefilled(s.jobId());
            }
            if (s.streamTokens()) {
                report(i, 1);
                instance.startStreaming(this, i, atNanos);
            }
        }

        private void finished(int i, long eventAtMs) {
            long atMs = Math.max(eventAtMs, submittedAtMs);
            SequenceWork s = batch.sequences().get(i);
            String text = texts[i][0];
            if (s.streamTokens() && sent[i] < text.length()) {
                sink.tokens(s.jobId(), text.substring(sent[i]));
                sent[i] = text.length();
            }
            long first = firstTokenAtMs[i] != NOT_YET ? firstTokenAtMs[i] : atMs;
            outcomes[i] = new SequenceOutcome.Completed(s.jobId(), text, texts[i][1], s.promptTokens(), s.maxTokens(),
                    s.cachedPrefixTokens(), first, atMs);
            ids[i] = null;
            unfinished--;
        }

        /** Hands the sink the share of sequence {@code i}'s text that {@code generated} of its tokens cover (≥ 1 char). */
        private void report(int i, int generated) {
            SequenceWork s = batch.sequences().get(i);
            String text = texts[i][0];
            double share = Math.min(1.0, Math.max(generated, 1) / (double) s.maxTokens());
            // at least one character with the first token, so the caller's time to first token is the modelled one
            int upTo = Math.max(Math.min(1, text.length()), (int) Math.floor(text.length() * share));
            if (upTo > sent[i]) {
                sink.tokens(s.jobId(), text.substring(sent[i], upTo));
                sent[i] = upTo;
            }
        }
    }

    /** One pool instance's {@link ContinuousBatchingEngine} and the batches waiting on it; guarded by {@link #lock}. */
    private final class InstanceEngine {
        final ReentrantLock lock = new ReentrantLock();
        /** Signalled when a batch is done and when the driver role is free. */
        final Condition changed = lock.newCondition();
        final ContinuousBatchingEngine engine = new ContinuousBatchingEngine(roofline);
        /** The clock's reading (ns since the epoch) at engine time 0. */
        final long originNanos = ManualClock.nanoTime(clock);
        /** Engine sequence id → its batch and index, while unfinished. */
        final Map<String, Member> members = new HashMap<>();
        /** Streamed sequences past their first token and unfinished, reported on each stream tick. */
        final Set<Member> streaming = new LinkedHashSet<>();
        long nextStreamTickNanos;
        /** The caller thread driving the engine, or null. */
        Thread driver;

        void submit(Submitted b) {
            lock.lock();
            try {
                b.instance = this;
                List<ContinuousBatchingEngine.Request> requests = new ArrayList<>();
                for (int i = 0; i < b.ids.length; i++) {
                    if (b.ids[i] != null) {
                        SequenceWork s = b.batch.sequences().get(i);
                        requests.add(new ContinuousBatchingEngine.Request(b.ids[i], s.promptTokens(),
                                s.cachedPrefixTokens(), s.maxTokens(), b.batch.priority()));
                        members.put(b.ids[i], new Member(b, i));
                    }
                }
                long now = ManualClock.nanoTime(clock);
                b.submittedAtMs = Math.floorDiv(now, 1_000_000L);
                // together: an idle engine starts its first iteration with the whole batch
                deliver(engine.submit(requests, seconds(now)));
            } finally {
                lock.unlock();
            }
        }

        /** Called with the lock held; returns with it held. */
        void awaitDone(Submitted b) throws InterruptedException {
            Thread me = Thread.currentThread();
            try {
                while (b.unfinished > 0) {
                    if (Thread.interrupted()) {
                        throw new InterruptedException();
                    }
                    if (driver == null) {
                        driver = me;
                    }
                    if (driver == me) {
                        driveOnce();
                    } else {
                        changed.await();
                    }
                }
            } catch (InterruptedException e) {
                abandon(b);
                throw e;
            } finally {
                if (driver == me) {
                    driver = null;
                    changed.signalAll(); // a waiting caller takes the role over
                }
            }
        }

        /**
         * Sleeps (lock released) until the engine's next iteration boundary or stream tick, then advances the engine to
         * the clock's time and delivers what happened.
         */
        private void driveOnce() throws InterruptedException {
            if (engine.idle()) {
                throw new IllegalStateException("a batch waits on an idle engine: " + members.keySet());
            }
            double next = engine.nextEventSeconds();
            long eventNanos = nanosAt(next);
            long target = streaming.isEmpty() ? eventNanos : Math.min(eventNanos, nextStreamTickNanos);
            long now = ManualClock.nanoTime(clock);
            if (target > now) {
                lock.unlock();
                try {
                    ManualClock.sleepNanos(clock, target - now);
                } finally {
                    lock.lock();
                }
                now = ManualClock.nanoTime(clock);
            }
            // at the boundary slept for, the engine reaches it even where rounding puts the clock a hair before it
            double at = now >= eventNanos ? Math.max(seconds(now), next) : seconds(now);
            deliver(engine.advanceTo(at));
            if (!streaming.isEmpty() && now >= nextStreamTickNanos) {
                for (Member m : streaming) {
                    m.batch.report(m.index, engine.generated(m.batch.ids[m.index]));
                }
                nextStreamTickNanos = now + STREAM_TICK_NANOS;
            }
        }

        private void deliver(List<ContinuousBatchingEngine.Event> events) {
            boolean done = false;
            for (ContinuousBatchingEngine.Event e : events) {
                Member m;
                switch (e.kind()) {
                    case FIRST_TOKEN -> {
                        m = members.get(e.id());
                        if (m != null) {
                            m.batch.firstToken(m.index, epochMillisAt(e.atSeconds()), nanosAt(e.atSeconds()));
                        }
                    }
                    case FINISHED -> {
                        m = members.remove(e.id());
                        if (m != null) {
                            streaming.remove(m);
                            m.batch.finished(m.index, epochMillisAt(e.atSeconds()));
                            done |= m.batch.unfinished == 0;
                        }
                    }
                    default -> {
                        // ADMITTED, PREEMPTED: the engine's business (a preempted sequence keeps its tokens)
                    }
                }
            }
            if (done) {
                changed.signalAll();
            }
        }

        void startStreaming(Submitted b, int index, long atNanos) {
            if (streaming.isEmpty()) {
                nextStreamTickNanos = atNanos + STREAM_TICK_NANOS;
            }
            streaming.add(new Member(b, index));
        }

        /** Takes an interrupted batch's unfinished sequences out of the engine (their KV is freed at once). */
        private void abandon(Submitted b) {
            for (int i = 0; i < b.ids.length; i++) {
                String id = b.ids[i];
                if (id != null) {
                    engine.remove(id);
                    Member m = members.remove(id);
                    if (m != null) {
                        streaming.remove(m);
                    }
                    b.ids[i] = null;
                }
            }
        }

        private double seconds(long clockNanos) {
            return (clockNanos - originNanos) / 1e9 * timeScale;
        }

        private long nanosAt(double engineSeconds) {
            return originNanos + (long) Math.ceil(engineSeconds / timeScale * 1e9);
        }

        private long epochMillisAt(double engineSeconds) {
            return Math.floorDiv(nanosAt(engineSeconds), 1_000_000L);
        }
    }

    /** A sequence of a submitted batch, by its index in the batch. */
    private record Member(Submitted batch, int index) {
    }

    /** @return e.g. {@code "simulated roofline: 4 × Huawei Ascend 910B, deepseek-r1 in BF16, time scale 60×"} */
    @Override
    public String describe() {
        List<String> assumed = roofline.unpublishedFigures();
        return "simulated roofline: " + roofline.describe() + ", time scale " + timeScale + "×, "
                + (engineModel == EngineModel.CONTINUOUS ? "continuous batching" : "static batches")
                + (assumed.isEmpty() ? "" : "; figures not published: " + String.join("; ", assumed));
    }
}
