package io.inferq.loadtests.policy;

import io.inferq.server.wiring.RooflineServiceTime;

import io.inferq.job.JobLane;
import io.inferq.dispatcher.Admission;
import io.inferq.dispatcher.BatchPlan;
import io.inferq.dispatcher.DispatchConfig;
import io.inferq.dispatcher.DispatchScheduler;
import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.QueuedJob;
import io.inferq.dispatcher.RoutingPolicies;
import io.inferq.dispatcher.fairness.FairnessConfig;
import io.inferq.dispatcher.runtime.loop.DispatchLoop;
import io.inferq.workers.chips.BatchEstimate;
import io.inferq.workers.chips.ChipCatalogue;
import io.inferq.workers.chips.ChipProfile;
import io.inferq.workers.chips.ModelCatalogue;
import io.inferq.workers.chips.ModelProfile;
import io.inferq.workers.chips.RooflineAssumptions;
import io.inferq.workers.chips.RooflineModel;
import io.inferq.workers.chips.SequenceShape;
import io.inferq.workers.chips.WeightPrecision;
import io.inferq.workers.engine.ContinuousBatchingEngine;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeSet;

/**
 * Deterministic virtual-time, discrete-event replay of a trace through the <em>real</em> dispatch loop
 * ({@link DispatchLoop}: the admission, expiry, batch forming and wake-ups the dispatcher service runs, over a
 * {@link DispatchScheduler} and its routing policy, with service times calibrated online from the batches each pool
 * ran), against a simulated fleet timed by chip-workers' {@link RooflineModel}. No Kafka, no threads, no wall clock:
 * an hour of traffic runs in about a second. {@link #withPoolSlowdown} makes a pool's engines slower than the
 * dispatcher's configured figures (to measure calibration); {@link #withCalibration} turns calibration off.
 *
 * <h2>The simulated fleet</h2>
 * By default ({@link InstanceModel#CONTINUOUS}) each pool instance is a {@link ContinuousBatchingEngine}
 * (iteration-level continuous batching with chunked prefill and priority preemption, timed by the {@link RooflineModel}),
 * as vLLM and SGLang run and as inferq's workers run it: every batch credit of an instance is a stream of its own into
 * the instance's engine. A batch's sequences are handed to the instance the scheduler planned when the batch is sent,
 * with the batch's {@link io.inferq.dispatcher.EnginePriority}, and join the running batch at the engine's next
 * iteration boundary. A job's wait is arrival → admitted by the engine, its TTFT arrival → its first token, its
 * end-to-end latency arrival → its last token, its TPOT (last − first token) ÷ (output − 1); a batch's credit returns
 * when its last sequence finishes. Each pool has one LRU prefix cache of block ids (the trace's {@code hash_ids}),
 * shared by its instances; a batch's jobs read their leading cached blocks when the batch is dispatched, and a job's
 * blocks enter the cache at its first token, as inferq's workers fill the pool's KV cache: a worker looks a batch's
 * prompts up before it runs and stores a sequence's blocks when its backend reports the prompt prefilled (so a job
 * neither hits on a prompt of its own batch nor on one still prefilling, and does hit on one still decoding). Earlier
 * the blocks went in at dispatch (on the conversation trace 19 % of the prompt tokens from the cache where the pipeline
 * got 11-13 % on the same slice), then, as the workers stored them then, when the batch ended. Engines with caches of
 * their own ({@link EngineCaches}, {@code bench-kv-routing}) still store at dispatch.
 * Output lengths are the trace's and are given to the scheduler as {@code maxTokens} (an oracle every policy shares).
 *
 * <h3>Legacy: the static batch model</h3>
 * {@link #withInstanceModel withInstanceModel(InstanceModel.STATIC)} ({@code --instance-model static}) runs each
 * instance as the workers did before they ran an engine: the batches it is given one after another (a batch goes to
 * the instance that frees up first); a batch takes {@link RooflineModel#estimateBatch} of its sequences. A job's TTFT
 * is batch start + prefill − arrival, its end-to-end latency batch start + its own finish − arrival, its TPOT (finish −
 * prefill) ÷ (output − 1). Output lengths are as in the continuous model; a batch's jobs store their prefix blocks
 * when it is dispatched (this legacy model keeps the earlier timing).
 *
 * <h2>Load</h2>
 * The fleet's (nominal) capacity in jobs/s is derived from the roofline for the trace's mean prompt and output:
 * per pool, instances × one instance's rate at its full concurrency ({@link #instanceJobsPerSecond}: with the
 * continuous engine model its steady state at its running-sequence cap; with the static model a full batch), summed.
 * A load factor L compresses (or stretches) the trace's arrival times so its mean arrival rate
 * becomes L × capacity; request order, sizes and prefix structure are unchanged.
 *
 * <h2>Prefix caches and prefix-aware routing</h2>
 * A batch's jobs are timed with {@link SequenceShape#cachedTokens()} = the leading blocks the chosen pool's cache
 * holds (× block tokens, at most prompt − 1), so the roofline prefills only the rest. The caches are local (one
 * engine's HBM prefix cache, as vLLM automatic prefix caching or SGLang's radix cache): a hit is read in place,
 * so no KV transfer is charged, and a prefix cached on another pool saves nothing. With
 * {@link #KV_SIZED_CACHE} each pool's LRU is sized from the KV memory the roofline leaves after the weights
 * ({@link #prefixCacheBlocks}). {@code run(trace, policy, true)} gives the scheduler a {@link PrefixLocator} over
 * these caches and {@code prefixOverlapWeight} 1; {@code false} gives it {@link PrefixLocator#NONE} and weight 0
 * — same fleet, same caches, same discount, only routing differs. {@link Result#bestPoolHitRatio()} is the hit
 * ratio had every job gone to the pool that held most of its prefix at dispatch: how much of the available
 * reuse routing captured.
 *
 * <h2>Goodput</h2>
 * Jobs that finished with TTFT ≤ SLO and TPOT ≤ SLO, per second of (scaled) trace span. Every job carries the
 * deadline arrival + TTFT SLO, so admission rejects, and {@code expireDue} expires, work predicted to miss it.
 * By default a job, once dispatched, runs however late its batch starts; {@code run(…, expireAtWorker = true)} drops
 * it at the worker instead (expired, no service time), as inferq's workers do. With the continuous engine model (the
 * default) a worker hands a batch to its engine when the batch is sent (the engine queues it, not the worker), so a
 * job is dropped at the worker only if its deadline passed before the batch was sent, and both modes give the same
 * figures; with the static model a batch may wait behind others on its instance, and at 2× load dropping late jobs
 * there alone brought ect ÷ round-robin from about 2 down to about 1.2-1.3 on the shared traces.
 */
public final class PolicySimulator {

    /**
     * A pool of the simulated fleet.
     *
     * @param precision weights' precision; {@code null} = the model's checkpoint precision as served on the chip
     *                  ({@link WeightPrecision#servedOn})
     */
    public record SimPool(String id, String chipId, int chipsPerInstance, int instances, int maxBatchTokens,
                          int maxSequences, WeightPrecision precision) {

        /** A pool at the default precision. */
        public SimPool(String id, String chipId, int chipsPerInstance, int instances, int maxBatchTokens,
                       int maxSequences) {
            this(id, chipId, chipsPerInstance, instances, maxBatchTokens, maxSequences, null);
        }
    }

    /** {@link Settings#prefixCacheBlocksPerPool()} value: size each pool's prefix cache from its free KV memory. */
    public static final int KV_SIZED_CACHE = -1;

    /** Everything a run depends on. {@code prefixCacheBlocksPerPool} may be {@link #KV_SIZED_CACHE}. */
    public record Settings(String fleet, String model, List<SimPool> pools, double ttftSloSeconds,
                           double tpotSloSeconds, int prefixCacheBlocksPerPool, int prefixBlockTokens,
                           DispatchConfig dispatch, long seed) {

        /** The fleets {@link #forFleet} knows. */
        public static final List<String> FLEETS = List.of("defaults", "r1-mixed", "r1-h20");

        /**
         * The default fleet (the other benchmarks and the embedded {@code simulator} fleet use it):
         * deepseek-v2-lite on one chip per instance, a fixed 20,000-block prefix cache per pool.
         */
        public static Settings defaults() {
            List<SimPool> pools = List.of(
                    new SimPool("h800", "h800", 1, 2, 131_072, 32),
                    new SimPool("mi300x", "mi300x", 1, 1, 131_072, 32),
                    new SimPool("ascend-910b", "ascend-910b", 1, 2, 131_072, 32),
                    new SimPool("mtt-s4000", "mtt-s4000", 1, 2, 131_072, 32));
            return new Settings("defaults", "deepseek-v2-lite", pools, 5.0, 0.1, 20_000, 512, dispatchDefaults(), 42L);
        }

        /**
         * DeepSeek-R1 (671B total, 37B active) on a mixed fleet sized so that each instance holds the weights:
         * four 8×H20 instances (FP8), one 16×H800 (FP8), one 8×MI300X (FP8) and two 32×Ascend 910B (no FP8, so
         * BF16 weights). Every pool is <em>one</em> instance, so a pool's prefix cache is exactly one engine's
         * HBM prefix cache (local-only, as vLLM automatic prefix caching or SGLang's radix cache). Each cache is
         * sized from the KV memory left after the weights ({@link RooflineModel#kvCapacityTokens}) less one
         * batch budget (see {@link PolicySimulator#prefixCacheBlocks}). Per-batch prompt budgets keep a full
         * batch's prefill near 2.5 s on the slow-prefill chips (H20: 32k tokens, 910B: 64k) so that the
         * 5 s TTFT SLO is reachable; the fast chips take 128k.
         */
        public static Settings r1Mixed() {
            List<SimPool> pools = new ArrayList<>();
            for (int i = 1; i <= 4; i++) {
                pools.add(new SimPool("h20-" + i, "h20", 8, 1, 32_768, 16, WeightPrecision.FP8));
            }
            pools.add(new SimPool("h800-1", "h800", 16, 1, 131_072, 64, WeightPrecision.FP8));
            pools.add(new SimPool("mi300x-1", "mi300x", 8, 1, 131_072, 64, WeightPrecision.FP8));
            for (int i = 1; i <= 2; i++) {
                pools.add(new SimPool("ascend-910b-" + i, "ascend-910b", 32, 1, 65_536, 32, WeightPrecision.BF16));
            }
            return new Settings("r1-mixed", "deepseek-r1", List.copyOf(pools), 5.0, 0.1, KV_SIZED_CACHE, 512,
                    dispatchDefaults(), 42L);
        }

        /**
         * DeepSeek-R1 on eight identical two-node 16×H20 (FP8) instances: a homogeneous, prefill-weak fleet
         * (25,600 prompt tokens/s per instance) with ~10M KV tokens per instance. Identical pools make the
         * estimated completion times of all pools close, so cached prefixes rather than chip speed decide routing:
         * the fleet on which prefix-aware routing matters most. One instance per pool, caches sized from KV as
         * in {@link #r1Mixed()}.
         */
        public static Settings r1H20() {
            List<SimPool> pools = new ArrayList<>();
            for (int i = 1; i <= 8; i++) {
                pools.add(new SimPool("h20x16-" + i, "h20", 16, 1, 65_536, 32, WeightPrecision.FP8));
            }
            return new Settings("r1-h20", "deepseek-r1", List.copyOf(pools), 5.0, 0.1, KV_SIZED_CACHE, 512,
                    dispatchDefaults(), 42L);
        }

        /** {@link #defaults()}, {@link #r1Mixed()} or {@link #r1H20()} by name. */
        public static Settings forFleet(String fleet) {
            return switch (fleet) {
                case "defaults" -> defaults();
                case "r1-mixed" -> r1Mixed();
                case "r1-h20" -> r1H20();
                default -> throw new IllegalArgumentException("--fleet must be one of " + FLEETS + "; was " + fleet);
            };
        }

        private static DispatchConfig dispatchDefaults() {
            return DispatchConfig.defaults().withMaxQueuedJobs(200_000).withTenantQuotas(Long.MAX_VALUE / 4, Map.of());
        }

        public Settings withSlo(double ttftSeconds, double tpotSeconds) {
            return new Settings(fleet, model, pools, ttftSeconds, tpotSeconds, prefixCacheBlocksPerPool,
                    prefixBlockTokens, dispatch, seed);
        }

        /** These settings with {@code credits} batch credits (streams) per pool instance. */
        public Settings withCreditsPerInstance(int credits) {
            return new Settings(fleet, model, pools, ttftSloSeconds, tpotSloSeconds, prefixCacheBlocksPerPool, prefixBlockTokens,
                    dispatch.withMaxInFlightBatchesPerInstance(credits), seed);
        }

        public Settings withPrefixCacheBlocksPerPool(int blocks) {
            return new Settings(fleet, model, pools, ttftSloSeconds, tpotSloSeconds, blocks, prefixBlockTokens,
                    dispatch, seed);
        }
    }

    /**
     * One run's numbers. Latencies in seconds over completed jobs; goodput per second of trace span;
     * utilisation = busy instance-seconds ÷ (instances × simulated time until the last batch ends);
     * prefixHitRatio = cached ÷ all prompt tokens of dispatched jobs where they ran; bestPoolHitRatio = the same
     * had each job run on the pool caching most of its prefix at that moment; goodByPool = the good jobs each pool
     * ran (where a policy's goodput comes from); calibration = what the dispatcher's online calibration learned of each
     * pool by the end of the run.
     */
    public record Result(String policy, boolean prefixAware, int jobs, int completed, int good, double goodput,
                         double p50Ttft, double p99Ttft, double p50E2e, double p99E2e, int rejected, int expired,
                         Map<String, Double> utilisation, double prefixHitRatio, double bestPoolHitRatio,
                         Map<String, Integer> goodByPool, Map<String, DispatchScheduler.ServiceTimeScales> calibration) {
    }

    private Map<String, DispatchScheduler.ServiceTimeScales> calibrationOf(DispatchScheduler scheduler) {
        Map<String, DispatchScheduler.ServiceTimeScales> m = new LinkedHashMap<>();
        fleet.profiles().forEach(p -> m.put(p.poolId(), scheduler.serviceTimeScales(p.poolId())));
        return java.util.Collections.unmodifiableMap(m);
    }

    private record Fleet(List<PoolProfile> profiles, Map<String, RooflineModel> rooflines,
                         Map<String, Integer> cacheBlocks) {
    }

    private final Settings settings;
    private final Fleet fleet;
    /** Per pool: how much slower its engines really are than their roofline (1 = as the roofline says). */
    private final Map<String, Double> actualSlowdown;
    /** Per pool: the slowdown the dispatcher's prior (its configured service time) assumes. */
    private final Map<String, Double> configuredSlowdown;
    private final boolean calibrate;

    /** How each simulated pool instance runs the batches it is given. */
    public enum InstanceModel {
        /** One batch at a time, timed by {@link RooflineModel#estimateBatch}: the workers before they ran an engine (legacy). */
        STATIC,
        /**
         * A {@link ContinuousBatchingEngine} per instance (continuous batching with priority), as vLLM and SGLang run and
         * inferq's workers run it (the default).
         */
        CONTINUOUS;

        /** {@code static} or {@code continuous} (the {@code --instance-model} flag's values). */
        public static InstanceModel parse(String s) {
            return switch (s) {
                case "static" -> STATIC;
                case "continuous" -> CONTINUOUS;
                default -> throw new IllegalArgumentException("--instance-model must be static or continuous, was " + s);
            };
        }
    }

    private final InstanceModel instanceModel;

    public PolicySimulator(Settings settings) {
        this(settings, Map.of(), Map.of(), true, InstanceModel.CONTINUOUS);
    }

    private PolicySimulator(Settings settings, Map<String, Double> actualSlowdown, Map<String, Double> configuredSlowdown,
                            boolean calibrate, InstanceModel instanceModel) {
        this.instanceModel = instanceModel;
        this.settings = settings;
        this.actualSlowdown = Map.copyOf(actualSlowdown);
        this.configuredSlowdown = Map.copyOf(configuredSlowdown);
        this.calibrate = calibrate;
        ChipCatalogue chips = ChipCatalogue.builtIn();
        ModelProfile model = ModelCatalogue.builtIn().get(settings.model());
        List<PoolProfile> profiles = new ArrayList<>();
        Map<String, RooflineModel> rooflines = new LinkedHashMap<>();
        Map<String, Integer> cacheBlocks = new LinkedHashMap<>();
        for (SimPool p : settings.pools()) {
            ChipProfile chip = chips.get(p.chipId());
            RooflineModel r = new RooflineModel(chip, p.chipsPerInstance(), model,
                    p.precision() != null ? p.precision() : WeightPrecision.servedOn(model, chip),
                    RooflineAssumptions.defaults());
            long kv = r.kvCapacityTokens();
            if (kv < 1) {
                throw new IllegalArgumentException("pool " + p.id() + ": " + r.describe() + " cannot hold the weights");
            }
            int budget = (int) Math.min(p.maxBatchTokens(), kv / 2); // leave half the KV for decode growth
            double prior = configuredSlowdown.getOrDefault(p.id(), 1.0);
            io.inferq.dispatcher.ServiceTimeModel roofline = new RooflineServiceTime(r);
            profiles.add(new PoolProfile(p.id(), p.chipId(), settings.model(), p.instances(), budget,
                    p.maxSequences(), prior == 1.0 ? roofline : scaled(roofline, prior)));
            rooflines.put(p.id(), r);
            cacheBlocks.put(p.id(), settings.prefixCacheBlocksPerPool() == KV_SIZED_CACHE
                    ? prefixCacheBlocks(r, p.instances(), budget, settings.prefixBlockTokens())
                    : settings.prefixCacheBlocksPerPool());
        }
        this.fleet = new Fleet(List.copyOf(profiles), rooflines, cacheBlocks);
    }

    private static io.inferq.dispatcher.ServiceTimeModel scaled(io.inferq.dispatcher.ServiceTimeModel m, double factor) {
        return new io.inferq.dispatcher.ServiceTimeModel() {
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return factor * m.prefillSeconds(uncachedPromptTokens);
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return factor * m.decodeSeconds(batchSequences, outputTokens, contextTokens);
            }
        };
    }

    /**
     * This simulator with pool {@code poolId}'s engines {@code actual} × slower than its roofline, and the dispatcher
     * configured to expect {@code configured} × (its prior): {@code (2, 1)} is a pool configured 2× too optimistic,
     * {@code (2, 2)} the same pool correctly configured.
     */
    public PolicySimulator withPoolSlowdown(String poolId, double actual, double configured) {
        if (!(actual > 0) || !(configured > 0)) {
            throw new IllegalArgumentException("slowdowns must be positive, were " + actual + " and " + configured);
        }
        Map<String, Double> a = new HashMap<>(actualSlowdown);
        Map<String, Double> c = new HashMap<>(configuredSlowdown);
        a.put(poolId, actual);
        c.put(poolId, configured);
        return new PolicySimulator(settings, a, c, calibrate, instanceModel);
    }

    /** This simulator with the dispatcher's online service-time calibration on (the default, as in the runtime) or off. */
    public PolicySimulator withCalibration(boolean enabled) {
        return new PolicySimulator(settings, actualSlowdown, configuredSlowdown, enabled, instanceModel);
    }

    /** This simulator with each pool instance run as {@code model} says ({@link InstanceModel#CONTINUOUS} by default). */
    public PolicySimulator withInstanceModel(InstanceModel model) {
        return new PolicySimulator(settings, actualSlowdown, configuredSlowdown, calibrate, model);
    }

    public InstanceModel instanceModel() {
        return instanceModel;
    }

    private double actualSlowdown(String poolId) {
        return actualSlowdown.getOrDefault(poolId, 1.0);
    }

    /**
     * A pool's prefix-cache capacity in trace blocks when sized from memory: per instance, the KV tokens left
     * after the weights ({@link RooflineModel#kvCapacityTokens}) less one batch budget (held back for the prompt
     * of the batch queued behind the running one and for every sequence's output), in blocks of
     * {@code blockTokens}; times the instances (the pool's cache is one LRU over all of them, so use
     * single-instance pools for exact per-engine semantics). The running batch's prompt blocks are themselves
     * entries of the LRU, as in a radix/automatic prefix cache.
     */
    static int prefixCacheBlocks(RooflineModel r, int instances, int batchBudget, int blockTokens) {
        long perInstance = Math.max(0, r.kvCapacityTokens() - batchBudget) / blockTokens;
        return (int) Math.min(Integer.MAX_VALUE, perInstance * instances);
    }

    public Settings settings() {
        return settings;
    }

    /** Prefix-cache capacity of each pool, in trace blocks. */
    public Map<String, Integer> prefixCacheBlocksByPool() {
        return Collections.unmodifiableMap(fleet.cacheBlocks());
    }

    /** The dispatcher's view of each pool (its per-batch budget is capped at half the KV capacity). */
    public List<PoolProfile> poolProfiles() {
        return fleet.profiles();
    }

    /** The roofline model of one instance of {@code poolId}. */
    public RooflineModel roofline(String poolId) {
        return fleet.rooflines().get(poolId);
    }

    /** Fleet capacity in jobs/s for the trace's mean request, every prompt token prefilled (see class doc). */
    public double capacityJobsPerSecond(List<TraceRequest> trace) {
        return capacityJobsPerSecond(trace, 0.0);
    }

    /**
     * Fleet capacity in jobs/s for the trace's mean request with {@code hitRatio} of its prompt tokens read from a
     * prefix cache: {@code Σ instances × } {@link #instanceJobsPerSecond}.
     */
    public double capacityJobsPerSecond(List<TraceRequest> trace, double hitRatio) {
        double meanIn = trace.stream().mapToInt(TraceRequest::inputTokens).average().orElse(1);
        double meanOut = trace.stream().mapToInt(TraceRequest::outputTokens).average().orElse(1);
        double cap = 0;
        for (PoolProfile p : fleet.profiles()) {
            cap += p.instances() * instanceJobsPerSecond(p.poolId(), meanIn, hitRatio, meanOut);
        }
        return cap;
    }

    /**
     * Nominal jobs per second of one instance of {@code poolId} serving requests of {@code meanIn} prompt tokens
     * ({@code hitRatio} of them cached, read at the roofline's KV-transfer cost) and {@code meanOut} output tokens,
     * at the instance's full concurrency, as this simulator's instance model runs it:
     * <ul>
     *   <li>{@link InstanceModel#CONTINUOUS}: the engine's steady state at {@code N} running sequences, {@code N} its
     *       running-sequence cap ({@link ContinuousBatchingEngine.Limits#of}: the roofline's ridge point) or as many
     *       as its KV holds at prompt + output each, whichever is less. An engine iteration costs its prefill tokens
     *       plus one decode step over the decoding sequences' contexts, so each job costs its own prefill plus
     *       {@code out} decode steps shared by {@code N}: {@code 1 ÷ (prefill(in) + out × step(N × (in + out/2)) ÷ N)}
     *       (contexts at their mean over a sequence's life). Sharing the weight read among up to {@code N} sequences
     *       makes this more than a static full batch's rate (and it does not depend on the dispatcher's batch
     *       limits or credits: it is what the hardware and engine can do);</li>
     *   <li>{@link InstanceModel#STATIC}: {@code n ÷ T(n)}, a batch of {@code n} such requests ({@code n} = the pool's
     *       sequence cap, or as many as its token budget takes) timed by {@link RooflineModel#estimateBatch}.</li>
     * </ul>
     */
    public double instanceJobsPerSecond(String poolId, double meanIn, double hitRatio, double meanOut) {
        PoolProfile p = fleet.profiles().stream().filter(x -> x.poolId().equals(poolId)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no pool " + poolId));
        RooflineModel r = fleet.rooflines().get(poolId);
        int in = (int) Math.max(1, Math.round(meanIn));
        int cached = (int) Math.min(in - 1L, Math.round(meanIn * hitRatio));
        int out = (int) Math.max(1, Math.round(meanOut));
        if (instanceModel == InstanceModel.CONTINUOUS) {
            ContinuousBatchingEngine.Limits limits = ContinuousBatchingEngine.Limits.of(r);
            long n = Math.max(1, Math.min(limits.maxRunningSequences(), limits.kvCapacityTokens() / ((long) in + out)));
            double perJob = r.prefillSeconds(in - cached) + (cached > 0 ? r.kvTransferSecondsForTokens(cached) : 0)
                    + (out - 1) * r.decodeStepSeconds(Math.round(n * (in + out / 2.0))) / n;
            return 1 / perJob;
        }
        int n = (int) Math.max(1, Math.min(p.maxConcurrentSequences(), p.maxBatchTokens() / meanIn));
        List<SequenceShape> shapes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            shapes.add(new SequenceShape(in, cached, out));
        }
        return n / r.estimateBatch(shapes).totalSeconds();
    }

    /** The trace with arrivals scaled so the mean rate is {@code load} × capacity. */
    public List<TraceRequest> scaleToLoad(List<TraceRequest> trace, double load) {
        double span = Math.max(1, trace.get(trace.size() - 1).arrivalMs()) / 1000.0;
        double rate = trace.size() / span;
        double factor = load * capacityJobsPerSecond(trace) / rate; // >1: compress time
        List<TraceRequest> out = new ArrayList<>(trace.size());
        for (TraceRequest t : trace) {
            out.add(new TraceRequest(Math.round(t.arrivalMs() / factor), t.inputTokens(), t.outputTokens(),
                    t.blockHashes()));
        }
        return out;
    }

    // ------------------------------------------------------------------ one run

    private static final int ARRIVAL = 0;
    private static final int BATCH_DONE = 1;
    private static final int TIMER = 2;
    /** An instance's engine ends an iteration ({@code index} = the instance; continuous model only). */
    private static final int ENGINE = 3;

    private record Event(long atMs, long seq, int kind, int index, String poolId, String batchId) {
    }

    private static final class PoolState {
        final PoolProfile profile;
        final RooflineModel roofline;
        final long[] freeAtMs;
        /** Each instance's engine ({@link InstanceModel#CONTINUOUS}; {@code null} in the static model). */
        ContinuousBatchingEngine[] engines;
        /** The time (ms) of each engine's pending {@code ENGINE} event, or -1. */
        long[] engineEventAtMs;
        final LinkedHashMap<Long, Boolean> cache;
        final int cacheBlocks;
        double busySeconds;

        PoolState(PoolProfile profile, RooflineModel roofline, int cacheBlocks) {
            this.profile = profile;
            this.roofline = roofline;
            this.freeAtMs = new long[profile.instances()];
            this.cacheBlocks = cacheBlocks;
            this.cache = new LinkedHashMap<>(16, 0.75f, true);
        }

        /** Gives every instance a {@link ContinuousBatchingEngine} (the continuous model). */
        void useEngines(double slowdown) {
            engines = new ContinuousBatchingEngine[freeAtMs.length];
            engineEventAtMs = new long[freeAtMs.length];
            Arrays.fill(engineEventAtMs, -1);
            for (int i = 0; i < engines.length; i++) {
                engines[i] = new ContinuousBatchingEngine(roofline, ContinuousBatchingEngine.Limits.of(roofline), slowdown);
            }
        }

        int leadingCached(List<Long> hashes) {
            int n = 0;
            for (Long h : hashes) {
                if (!cache.containsKey(h)) {
                    break;
                }
                n++;
            }
            return n;
        }

        void insert(List<Long> hashes) {
            for (Long h : hashes) {
                cache.put(h, Boolean.TRUE);
            }
            while (cache.size() > cacheBlocks) {
                cache.remove(cache.keySet().iterator().next());
            }
        }
    }

    /**
     * Engines that keep their own prefix cache per instance and tell routing what they hold, in place of the
     * simulator's one LRU per pool ({@code bench-kv-routing}: engines publishing KV events, an approximate index, or
     * nothing). A batch's jobs read {@link #leadingCached} of the instance the scheduler planned, then {@link #store}
     * their blocks there.
     */
    public interface EngineCaches {
        /** Leading blocks of {@code hashes} instance {@code instance} of {@code poolId} holds now. */
        int leadingCached(String poolId, int instance, List<Long> hashes);

        /** A job's blocks were prefilled (or read) on that instance. */
        void store(String poolId, int instance, List<Long> hashes);

        /** The dispatcher's locator; {@link PrefixLocator#NONE} routes prefix-blind (overlap weight 0). */
        PrefixLocator locator();
    }

    /** Replays {@code trace} (already scaled) with the named policy. Deterministic for the settings' seed. */
    public Result run(List<TraceRequest> trace, String policyName, boolean prefixAware) {
        return run(trace, policyName, prefixAware, false);
    }

    /** As {@link #run(List, String, boolean, boolean)} with the fleet's prefix caches and routing given by {@code engines}. */
    public Result run(List<TraceRequest> trace, String policyName, EngineCaches engines, boolean expireAtWorker) {
        return runTenants(trace, null, FairnessConfig.defaults(), policyName, engines.locator() != PrefixLocator.NONE, expireAtWorker,
                engines).result();
    }

    /**
     * As {@link #run(List, String, boolean)}; with {@code expireAtWorker} a dispatched job whose deadline has passed
     * when its instance starts the batch is dropped there (counted as expired, takes no time), as inferq's workers do.
     * Without it every dispatched job runs, however late.
     */
    public Result run(List<TraceRequest> trace, String policyName, boolean prefixAware, boolean expireAtWorker) {
        return runTenants(trace, null, FairnessConfig.defaults(), policyName, prefixAware, expireAtWorker).result();
    }

    /**
     * One job of a {@link #runTenants} run.
     *
     * @param tenant            its tenant
     * @param completed         whether it ran (neither rejected nor expired)
     * @param good              whether it met both SLOs
     * @param waitSeconds       arrival → its batch started on an instance (dispatcher queue plus instance queue; with
     *                          the continuous model: arrival → its engine admitted it into the running batch); NaN if it
     *                          never ran
     * @param promptTokens      prompt tokens
     * @param cachedTokens      prompt tokens read from the pool's prefix cache
     * @param outputTokens      output tokens
     * @param ttftSeconds       arrival → its first token; NaN if it never ran
     * @param queueWaitSeconds  arrival → its batch left inferq's queue (sent to its instance: with the continuous model
     *                          submitted to the instance's engine, each batch credit being one engine stream); the rest
     *                          of {@code waitSeconds} is the instance's (engine admission, or the static model's
     *                          instance queue); NaN if it never ran
     */
    public record JobRun(String tenant, boolean completed, boolean good, double waitSeconds, int promptTokens,
                         int cachedTokens, int outputTokens, double ttftSeconds, double queueWaitSeconds) {
    }

    /** A {@link #runTenants} run: the usual numbers and one {@link JobRun} per trace request, in trace order. */
    public record TenantRun(Result result, List<JobRun> jobs) {
    }

    /**
     * As {@link #run(List, String, boolean, boolean)} with several tenants: request {@code i} belongs to
     * {@code tenants.get(i)} ({@code null}: every request to tenant {@code default}), and the scheduler shares the fleet
     * between tenants as {@code fairness} says ({@link FairnessConfig#oldestFirst()}: no fair sharing).
     */
    public TenantRun runTenants(List<TraceRequest> trace, List<String> tenants, FairnessConfig fairness, String policyName,
                                boolean prefixAware, boolean expireAtWorker) {
        return runTenants(trace, tenants, fairness, policyName, prefixAware, expireAtWorker, null);
    }

    /** A run and where its nominal capacity went ({@link CapacityAccount}). */
    public record Accounted(Result result, CapacityAccount.Breakdown breakdown) {
    }

    /** As {@link #run(List, String, boolean, boolean)}, with the {@link CapacityAccount} decomposition of the run. */
    public Accounted runAccounted(List<TraceRequest> trace, String policyName, boolean prefixAware, boolean expireAtWorker) {
        CapacityAccount[] account = new CapacityAccount[1];
        Result r = runTenants(trace, null, FairnessConfig.defaults(), policyName, prefixAware, expireAtWorker, null, account)
                .result();
        return new Accounted(r, account[0].breakdown());
    }

    private TenantRun runTenants(List<TraceRequest> trace, List<String> tenants, FairnessConfig fairness, String policyName,
                                 boolean prefixAware, boolean expireAtWorker, EngineCaches engines) {
        return runTenants(trace, tenants, fairness, policyName, prefixAware, expireAtWorker, engines, null);
    }

    /** {@code accountOut}: null, or a one-element array that receives the run's {@link CapacityAccount}. */
    private TenantRun runTenants(List<TraceRequest> trace, List<String> tenants, FairnessConfig fairness, String policyName,
                                 boolean prefixAware, boolean expireAtWorker, EngineCaches engines,
                                 CapacityAccount[] accountOut) {
        if (tenants != null && tenants.size() != trace.size()) {
            throw new IllegalArgumentException("tenants must name one tenant per request: " + tenants.size() + " for "
                    + trace.size() + " requests");
        }
        Map<String, PoolState> pools = new LinkedHashMap<>();
        for (PoolProfile p : fleet.profiles()) {
            pools.put(p.poolId(), new PoolState(p, fleet.rooflines().get(p.poolId()),
                    fleet.cacheBlocks().get(p.poolId())));
            if (instanceModel == InstanceModel.CONTINUOUS) {
                pools.get(p.poolId()).useEngines(actualSlowdown(p.poolId()));
            }
        }
        PrefixLocator locator = engines != null ? engines.locator() : prefixAware ? hashes -> {
            Map<String, Integer> m = new HashMap<>();
            pools.forEach((id, ps) -> {
                int n = ps.leadingCached(hashes);
                if (n > 0) {
                    m.put(id, n);
                }
            });
            return m;
        } : PrefixLocator.NONE;
        DispatchConfig cfg = settings.dispatch().withPrefix(settings.prefixBlockTokens(), prefixAware ? 1.0 : 0.0);
        DispatchScheduler scheduler = new DispatchScheduler(cfg, fairness, fleet.profiles(),
                RoutingPolicies.byName(policyName, settings.seed()), locator, null);

        scheduler.setCalibration(calibrate);
        CapacityAccount account = accountOut == null ? null : new CapacityAccount(this, trace, scheduler::freeBatchCredits);
        if (accountOut != null) {
            accountOut[0] = account;
        }
        PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.atMs() != b.atMs()
                ? Long.compare(a.atMs(), b.atMs()) : Long.compare(a.seq(), b.seq()));
        long[] seq = {0};
        for (int i = 0; i < trace.size(); i++) {
            events.add(new Event(trace.get(i).arrivalMs(), seq[0]++, ARRIVAL, i, null, null));
        }
        TreeSet<Long> timers = new TreeSet<>();
        double[] ttft = new double[trace.size()];
        double[] e2e = new double[trace.size()];
        boolean[] done = new boolean[trace.size()];
        boolean[] goodJob = new boolean[trace.size()];
        double[] waitS = new double[trace.size()];
        // arrival → the batch was sent (left the dispatcher's queue)
        double[] queueWaitS = new double[trace.size()];
        int[] cachedOf = new int[trace.size()];
        Arrays.fill(waitS, Double.NaN);
        Map<String, Integer> goodByPool = new LinkedHashMap<>();
        pools.keySet().forEach(id -> goodByPool.put(id, 0));
        // good, rejected, expired
        int[] counts = new int[3];
        // cached, best cached, prompt tokens
        long[] tokens = new long[3];
        // batches whose jobs all ran (their time calibrates the pool) vs batches with jobs dropped at the worker
        java.util.Set<String> cleanBatches = new java.util.HashSet<>();
        long ttftSloMs = Math.round(settings.ttftSloSeconds() * 1000);

        // the continuous model (InstanceModel.CONTINUOUS): each instance's ContinuousBatchingEngine runs the batches
        boolean continuous = instanceModel == InstanceModel.CONTINUOUS;
        double[] firstAt = new double[trace.size()];
        String[] batchOfJob = new String[trace.size()];
        String[] poolOfJob = new String[trace.size()];
        Map<String, Integer> batchLeft = new HashMap<>();
        /**
         * The continuous model's batches: the last first token (ms), which calibrates the pool's prefill rate when the
         * batch ends, as the runtime's terminal events do (the static model's batches wait for the previous batch's end,
         * which no engine prefill does: it reports none).
         */
        Map<String, Long> prefilledAtMs = new HashMap<>();
        final class PrefixReads {
            /**
             * A job's prompt tokens read from the prefix cache of the instance its batch runs on (its leading cached
             * blocks there; local, so no transfer to charge), then its blocks stored there; counts the cached, best
             * cached anywhere, and prompt tokens.
             */
            int read(PoolState ps, String poolId, int inst, QueuedJob j) {
                int here = engines != null ? engines.leadingCached(poolId, inst, j.prefixBlockHashes())
                        : ps.leadingCached(j.prefixBlockHashes());
                int best = here;
                for (PoolState other : pools.values()) {
                    if (engines == null) {
                        best = Math.max(best, other.leadingCached(j.prefixBlockHashes()));
                        continue;
                    }
                    for (int i = 0; i < other.freeAtMs.length; i++) {
                        best = Math.max(best, engines.leadingCached(other.profile.poolId(), i, j.prefixBlockHashes()));
                    }
                }
                int cached = (int) Math.min((long) here * settings.prefixBlockTokens(), j.promptTokens() - 1L);
                if (engines != null) {
                    engines.store(poolId, inst, j.prefixBlockHashes());
                } else if (!continuous) {
                    ps.insert(j.prefixBlockHashes()); // the continuous model stores at the job's first token (EngineSide.book)
                }
                tokens[0] += cached;
                tokens[1] += Math.min((long) best * settings.prefixBlockTokens(), j.promptTokens() - 1L);
                tokens[2] += j.promptTokens();
                return cached;
            }
        }
        PrefixReads prefixReads = new PrefixReads();
        final class EngineSide {
            /** The continuous model's {@code send}: the batch's sequences join the planned instance's engine. */
            void send(BatchPlan plan, List<QueuedJob> planJobs, long now) {
                PoolState ps = pools.get(plan.poolId());
                int inst = plan.instance() % ps.freeAtMs.length; // where the runtime runs it: the instance the scheduler planned
                // the worker takes the batch at once and hands its sequences to the instance's engine, which admits
                // them at its next iteration boundary (continuous batching); a job already late is dropped there
                long start = now;
                List<QueuedJob> live = new ArrayList<>(planJobs.size());
                for (QueuedJob j : planJobs) {
                    if (expireAtWorker && j.deadlineAtMs() != null && j.deadlineAtMs() <= start) {
                        counts[2]++;
                    } else {
                        live.add(j);
                    }
                }
                if (live.isEmpty()) {
                    events.add(new Event(start, seq[0]++, BATCH_DONE, -1, plan.poolId(), plan.batchId()));
                    return;
                }
                List<ContinuousBatchingEngine.Request> requests = new ArrayList<>();
                for (QueuedJob j : live) {
                    int cached = prefixReads.read(ps, plan.poolId(), inst, j);
                    int idx = Integer.parseInt(j.jobId());
                    cachedOf[idx] = cached;
                    requests.add(new ContinuousBatchingEngine.Request(j.jobId(), j.promptTokens(), cached, j.maxTokens(),
                            plan.enginePriority().value()));
                    batchOfJob[idx] = plan.batchId();
                    poolOfJob[idx] = plan.poolId();
                }
                if (live.size() == planJobs.size()) {
                    cleanBatches.add(plan.batchId());
                }
                batchLeft.put(plan.batchId(), live.size());
                ContinuousBatchingEngine engine = ps.engines[inst];
                book(engine.submit(requests, start / 1000.0)); // the whole batch at once, as the workers' backend submits it
                schedule(ps, inst);
            }

            /** Books an engine's sequence events: queue wait, TTFT, finish (and its batch's end). */
            void book(List<ContinuousBatchingEngine.Event> happened) {
                for (ContinuousBatchingEngine.Event ev : happened) {
                    int idx = Integer.parseInt(ev.id());
                    double arrivalS = trace.get(idx).arrivalMs() / 1000.0;
                    switch (ev.kind()) {
                        case ADMITTED -> waitS[idx] = ev.atSeconds() - arrivalS;
                        case FIRST_TOKEN -> {
                            ttft[idx] = ev.atSeconds() - arrivalS;
                            firstAt[idx] = ev.atSeconds();
                            prefilledAtMs.merge(batchOfJob[idx], (long) Math.ceil(ev.atSeconds() * 1000), Math::max);
                            if (engines == null) {
                                // prefilled: the worker stores the job's prefix blocks now (its backend reports it)
                                pools.get(poolOfJob[idx]).insert(trace.get(idx).blockHashes());
                            }
                        }
                        case PREEMPTED -> { }
                        case FINISHED -> {
                            e2e[idx] = ev.atSeconds() - arrivalS;
                            int out = trace.get(idx).outputTokens();
                            double tpot = out > 1 ? (ev.atSeconds() - firstAt[idx]) / (out - 1) : 0;
                            done[idx] = true;
                            if (ttft[idx] <= settings.ttftSloSeconds() && tpot <= settings.tpotSloSeconds()) {
                                goodJob[idx] = true;
                                counts[0]++;
                                goodByPool.merge(poolOfJob[idx], 1, Integer::sum);
                            }
                            PoolState ps = pools.get(poolOfJob[idx]);
                            long endMs = (long) Math.ceil(ev.atSeconds() * 1000);
                            String batch = batchOfJob[idx];
                            int left = batchLeft.merge(batch, -1, Integer::sum);
                            if (left <= 0) {
                                batchLeft.remove(batch);
                                events.add(new Event(endMs, seq[0]++, BATCH_DONE, -1, ps.profile.poolId(), batch));
                            }
                        }
                    }
                }
            }

            /** Asks for an {@code ENGINE} event at the end of the instance's running iteration (if not asked yet). */
            void schedule(PoolState ps, int inst) {
                double next = ps.engines[inst].nextEventSeconds();
                if (Double.isInfinite(next)) {
                    return;
                }
                long at = (long) Math.ceil(next * 1000);
                while (at / 1000.0 < next) {
                    at++; // never before the iteration ends (rounding), or the event would find nothing to do
                }
                if (ps.engineEventAtMs[inst] != at) {
                    ps.engineEventAtMs[inst] = at;
                    events.add(new Event(at, seq[0]++, ENGINE, inst, ps.profile.poolId(), null));
                }
            }
        }
        EngineSide engineSide = new EngineSide();

        DispatchLoop.Effects<Integer> effects = new DispatchLoop.Effects<>() {
            @Override
            public void send(BatchPlan plan, List<QueuedJob> planJobs, List<Integer> handles, long now) {
                for (QueuedJob j : planJobs) {
                    int idx = Integer.parseInt(j.jobId());
                    queueWaitS[idx] = (now - trace.get(idx).arrivalMs()) / 1000.0;
                }
                if (continuous) {
                    engineSide.send(plan, planJobs, now);
                    return;
                }
                PoolState ps = pools.get(plan.poolId());
                int inst = plan.instance() % ps.freeAtMs.length; // where the runtime runs it: the instance the scheduler planned
                long start = Math.max(now, ps.freeAtMs[inst]);
                List<QueuedJob> live = new ArrayList<>(planJobs.size());
                for (QueuedJob j : planJobs) {
                    if (account != null) {
                        account.left(Integer.parseInt(j.jobId()));
                    }
                    if (expireAtWorker && j.deadlineAtMs() != null && j.deadlineAtMs() <= start) {
                        counts[2]++;
                    } else {
                        live.add(j);
                    }
                }
                if (live.isEmpty()) {
                    events.add(new Event(start, seq[0]++, BATCH_DONE, -1, plan.poolId(), plan.batchId()));
                    return;
                }
                List<SequenceShape> shapes = new ArrayList<>();
                for (QueuedJob j : live) {
                    int cached = prefixReads.read(ps, plan.poolId(), inst, j);
                    shapes.add(new SequenceShape(j.promptTokens(), cached, j.maxTokens()));
                    cachedOf[Integer.parseInt(j.jobId())] = cached;
                }
                BatchEstimate est = ps.roofline.estimateBatch(shapes);
                long end = start + (long) Math.ceil(est.totalSeconds() * actualSlowdown(plan.poolId()) * 1000);
                ps.freeAtMs[inst] = end;
                ps.busySeconds += est.totalSeconds() * actualSlowdown(plan.poolId());
                if (live.size() == planJobs.size()) {
                    cleanBatches.add(plan.batchId());
                }
                double slow = actualSlowdown(plan.poolId());
                int goodBefore = counts[0];
                for (int k = 0; k < live.size(); k++) {
                    QueuedJob j = live.get(k);
                    int idx = Integer.parseInt(j.jobId());
                    double startS = start / 1000.0;
                    double arrivalS = trace.get(idx).arrivalMs() / 1000.0;
                    ttft[idx] = startS + est.prefillSeconds() * slow - arrivalS;
                    double finish = est.finishSeconds().get(k) * slow;
                    e2e[idx] = startS + finish - arrivalS;
                    double tpot = j.maxTokens() > 1 ? (finish - est.prefillSeconds() * slow) / (j.maxTokens() - 1) : 0;
                    done[idx] = true;
                    waitS[idx] = (start - trace.get(idx).arrivalMs()) / 1000.0;
                    if (ttft[idx] <= settings.ttftSloSeconds() && tpot <= settings.tpotSloSeconds()) {
                        goodJob[idx] = true;
                        counts[0]++;
                        goodByPool.merge(plan.poolId(), 1, Integer::sum);
                    }
                }
                if (account != null) {
                    account.batch(plan.poolId(), inst, start, end, shapes, est.totalSeconds(), counts[0] - goodBefore);
                }
                events.add(new Event(end, seq[0]++, BATCH_DONE, -1, plan.poolId(), plan.batchId()));
            }

            @Override
            public void expired(QueuedJob job, Integer handle, long now) {
                counts[2]++;
                if (account != null) {
                    account.left(handle);
                }
            }

            @Override
            public void refused(QueuedJob job, Integer handle, Admission.Rejected why, long now) {
                counts[1]++;
            }
        };
        DispatchLoop<Integer> loop = new DispatchLoop<>(scheduler, effects, at -> {
            if (at != Long.MAX_VALUE && timers.add(at)) {
                events.add(new Event(at, seq[0]++, TIMER, -1, null, null));
            }
        }, trace.size());

        while (!events.isEmpty()) {
            Event e = events.poll();
            long now = e.atMs();
            if (account != null) {
                account.advanceTo(now);
            }
            if (e.kind() == ARRIVAL) {
                TraceRequest t = trace.get(e.index());
                QueuedJob job = new QueuedJob(Integer.toString(e.index()),
                        tenants == null ? "default" : tenants.get(e.index()), settings.model(),
                        JobLane.INTERACTIVE, t.inputTokens(), t.outputTokens(), now, now + ttftSloMs,
                        t.blockHashes());
                if (loop.offer(job, e.index(), now) == DispatchLoop.Offer.QUEUED && account != null) {
                    account.queued(e.index(), t.inputTokens(), now + ttftSloMs);
                }
                loop.decide(now);
            } else if (e.kind() == ENGINE) {
                PoolState ps = pools.get(e.poolId());
                if (ps.engineEventAtMs[e.index()] == now) {
                    ps.engineEventAtMs[e.index()] = -1;
                }
                engineSide.book(ps.engines[e.index()].advanceTo(now / 1000.0));
                ps.freeAtMs[e.index()] = Math.max(ps.freeAtMs[e.index()], now);
                engineSide.schedule(ps, e.index());
            } else if (e.kind() == BATCH_DONE) {
                Long prefilled = prefilledAtMs.remove(e.batchId());
                loop.batchFinished(e.poolId(), e.batchId(), now, cleanBatches.remove(e.batchId()),
                        prefilled == null ? Long.MIN_VALUE : prefilled);
            } else {
                timers.remove(now);
                loop.wake(now);
            }
        }
        int good = counts[0];
        int rejected = counts[1];
        int expired = counts[2];
        long cachedTokens = tokens[0];
        long bestCachedTokens = tokens[1];
        long promptTokens = tokens[2];
        if (scheduler.queuedJobs() != 0) {
            throw new IllegalStateException("simulation ended with " + scheduler.queuedJobs() + " jobs queued");
        }
        double span = Math.max(1, trace.get(trace.size() - 1).arrivalMs()) / 1000.0;
        long lastEnd = 0;
        for (PoolState ps : pools.values()) {
            if (ps.engines != null) {
                for (ContinuousBatchingEngine engine : ps.engines) {
                    ps.busySeconds += engine.busySeconds();
                }
            }
            for (long f : ps.freeAtMs) {
                lastEnd = Math.max(lastEnd, f);
            }
        }
        double simulated = Math.max(span, lastEnd / 1000.0);
        int completed = 0;
        for (boolean d : done) {
            completed += d ? 1 : 0;
        }
        double[] t = new double[completed];
        double[] l = new double[completed];
        for (int i = 0, k = 0; i < done.length; i++) {
            if (done[i]) {
                t[k] = ttft[i];
                l[k++] = e2e[i];
            }
        }
        Arrays.sort(t);
        Arrays.sort(l);
        Map<String, Double> util = new LinkedHashMap<>();
        pools.forEach((id, ps) -> util.put(id, ps.busySeconds / (ps.freeAtMs.length * simulated)));
        Result result = new Result(policyName, prefixAware, trace.size(), completed, good, good / span,
                pct(t, 0.5), pct(t, 0.99), pct(l, 0.5), pct(l, 0.99), rejected, expired, util,
                promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens,
                promptTokens == 0 ? 0 : (double) bestCachedTokens / promptTokens, java.util.Collections.unmodifiableMap(goodByPool),
                calibrationOf(scheduler));
        List<JobRun> jobs = new ArrayList<>(trace.size());
        for (int i = 0; i < trace.size(); i++) {
            TraceRequest r = trace.get(i);
            jobs.add(new JobRun(tenants == null ? "default" : tenants.get(i), done[i], goodJob[i], waitS[i],
                    r.inputTokens(), cachedOf[i], r.outputTokens(), done[i] ? ttft[i] : Double.NaN,
                    done[i] ? queueWaitS[i] : Double.NaN));
        }
        return new TenantRun(result, List.copyOf(jobs));
    }

    private static double pct(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    }

    // ------------------------------------------------------------------ report

    /** The shipped policies by their short names, as the report labels them. */
    static final List<String> POLICIES = RoutingPolicies.NAMES.stream().map(RoutingPolicies::shortName).toList();

    /**
     * The {@code sim-policies} command ({@link SimulatorCommand}): {@code PolicySimulator [--mode policies|prefix]
     * [--fleet defaults|r1-mixed|r1-h20] [--trace a,b] [--trace-format f] [--loads ...] [--ttft-slo-s s] [--tpot-slo-s s]
     * [--cache-blocks n] [--instance-model continuous|static]}; the older positional form {@code [traceDir] [ttftSloSeconds] [tpotSloSeconds]
     * [prefixCacheBlocksPerPool]} still works.
     */
    public static void main(String[] args) {
        int rc;
        try {
            rc = SimulatorCommand.run(io.inferq.loadtests.Flags.parse(SimulatorCommand.legacyArgs(args)), System.out);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            rc = 2;
        }
        System.exit(rc);
    }

    /** One line per pool: chips, precision, KV capacity, prefix-cache blocks, batch budget, prefill speed. */
    static String describeFleet(PolicySimulator sim) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "fleet %s serving %s (%d-token trace blocks):%n",
                sim.settings.fleet(), sim.settings.model(), sim.settings.prefixBlockTokens()));
        for (PoolProfile p : sim.fleet.profiles()) {
            RooflineModel r = sim.fleet.rooflines().get(p.poolId());
            sb.append(String.format(Locale.ROOT, "  %-14s %d × [%s]: weights %.0f GB, KV %,d tokens/instance, prefix "
                            + "cache %,d blocks, batch ≤ %,d tokens × %d seqs, prefill %,.0f tokens/s, decode step %.2f ms%n",
                    p.poolId(), p.instances(), r.describe(), r.weightBytes() / 1e9, r.kvCapacityTokens(),
                    sim.fleet.cacheBlocks().get(p.poolId()), p.maxBatchTokens(), p.maxConcurrentSequences(),
                    1 / r.prefillSeconds(1), r.decodeStepSeconds(0) * 1000));
        }
        return sb.toString();
    }

    /**
     * ect with prefix-aware routing vs the same fleet, caches and policy with prefix-blind routing, at each load.
     * Both runs read and fill the same per-pool caches and discount cached prefill alike; only routing differs.
     */
    static String prefixReport(PolicySimulator sim, String name, List<TraceRequest> trace, double[] loads) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "== %s: %d requests, fleet capacity %.2f jobs/s, policy ect ==%n", name,
                trace.size(), sim.capacityJobsPerSecond(trace)));
        sb.append(String.format(Locale.ROOT, "%-5s %-11s %9s %7s %7s %8s %8s %6s %6s %6s %6s  %s%n", "load", "routing",
                "goodput/s", "p50TTFT", "p99TTFT", "p50E2E", "p99E2E", "rej", "exp", "hit%", "best%", "utilisation per pool"));
        for (double load : loads) {
            List<TraceRequest> scaled = sim.scaleToLoad(trace, load);
            Result on = sim.run(scaled, "ect", true);
            Result off = sim.run(scaled, "ect", false);
            sb.append(row(load, "prefix-on", on, 11, true));
            sb.append(row(load, "prefix-off", off, 11, true));
            sb.append(String.format(Locale.ROOT, "      on÷off: goodput %.2f, p50 TTFT %.2f, p99 TTFT %.2f, hit %.2f%n",
                    on.goodput() / off.goodput(), on.p50Ttft() / off.p50Ttft(), on.p99Ttft() / off.p99Ttft(),
                    on.prefixHitRatio() / off.prefixHitRatio()));
        }
        return sb.toString();
    }

    static String report(PolicySimulator sim, String name, List<TraceRequest> trace, boolean prefixRows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%n== %s: %d requests, fleet capacity %.2f jobs/s ==%n", name,
                trace.size(), sim.capacityJobsPerSecond(trace)));
        sb.append(String.format(Locale.ROOT, "%-5s %-17s %9s %7s %7s %8s %8s %6s %6s %6s  %s%n", "load", "policy",
                "goodput/s", "p50TTFT", "p99TTFT", "p50E2E", "p99E2E", "rej", "exp", "hit%", "utilisation per pool"));
        for (double load : new double[] {0.5, 1.0, 2.0}) {
            List<TraceRequest> scaled = sim.scaleToLoad(trace, load);
            Map<String, Result> byPolicy = new LinkedHashMap<>();
            for (String p : POLICIES) {
                Result r = sim.run(scaled, p, true);
                byPolicy.put(p, r);
                sb.append(row(load, p, r));
            }
            Result off = null;
            if (prefixRows) {
                off = sim.run(scaled, "ect", false);
                sb.append(row(load, "ect prefix-off", off));
            }
            double ect = byPolicy.get("ect").goodput();
            sb.append(String.format(Locale.ROOT, "      ratios: ect÷round-robin %.2f, ect÷least-loaded %.2f, ect÷random %.2f%s%n",
                    ect / byPolicy.get("round-robin").goodput(), ect / byPolicy.get("least-loaded").goodput(),
                    ect / byPolicy.get("random").goodput(),
                    off == null ? "" : String.format(Locale.ROOT, ", prefix on÷off %.2f", ect / off.goodput())));
        }
        return sb.toString();
    }

    private static String row(double load, String label, Result r) {
        return row(load, label, r, 17, false);
    }

    private static String row(double load, String label, Result r, int labelWidth, boolean bestColumn) {
        StringBuilder util = new StringBuilder();
        r.utilisation().forEach((k, v) -> util.append(String.format(Locale.ROOT, "%s=%.0f%% ", k, v * 100)));
        String best = bestColumn ? String.format(Locale.ROOT, " %6.1f", r.bestPoolHitRatio() * 100) : "";
        return String.format(Locale.ROOT, "%-5s %-" + labelWidth + "s %9.3f %7.2f %7.2f %8.1f %8.1f %6d %6d %6.1f%s  %s%n",
                load + "x", label, r.goodput(), r.p50Ttft(), r.p99Ttft(), r.p50E2e(), r.p99E2e(), r.rejected(),
                r.expired(), r.prefixHitRatio() * 100, best, util.toString().trim());
    }
}
