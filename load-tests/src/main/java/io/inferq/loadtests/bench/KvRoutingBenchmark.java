package io.inferq.loadtests.bench;

import io.inferq.dispatcher.PoolProfile;
import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.kv.EnginePrefixLocator;
import io.inferq.dispatcher.kv.IndexPrefixLocator;
import io.inferq.kvcache.events.EngineBlockIndex;
import io.inferq.kvcache.events.KvEventBatch;
import io.inferq.kvcache.hashing.BlockHasher;
import io.inferq.kvcache.hashing.HashSeed;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.TraceFiles;
import io.inferq.loadtests.policy.PolicySimulator;
import io.inferq.loadtests.policy.TraceRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code bench-kv-routing}: precise vs approximate vs prefix-blind prefix routing, in {@link PolicySimulator} (the real
 * {@code DispatchScheduler}, roofline-timed fleet, virtual time) on the conversation trace.
 *
 * <p>Every engine instance keeps its own bounded LRU prefix cache of the trace's blocks (as vLLM's automatic prefix
 * cache: a request's blocks are stored when its batch is dispatched, the tail of a prompt is evicted before its head)
 * and, like vLLM with {@code --kv-events-config}, reports each change as a KV event batch ({@code BlockStored} with the
 * blocks' token ids and parent hash, {@code BlockRemoved}) applied to an {@link EngineBlockIndex} through its public
 * API (the ZeroMQ transport is tested in kv-cache-store). The trace's {@code hash_ids} stand for the engine's block
 * hashes; each block's 512 token ids are derived from its hash id, so the index chains them with inferq's XXH3 chain
 * and the prompt side ({@link EnginePrefixLocator#remember}) computes the same chain from the same tokens.
 *
 * <p>Routing modes, same fleet, same engines, same cache discount:
 * <ul>
 *   <li>precise: the dispatcher's locator is {@link EnginePrefixLocator} over the events' index (per pool and per
 *       instance);</li>
 *   <li>approximate: {@link IndexPrefixLocator#direct} over an {@link InMemoryPrefixIndex} that records where inferq
 *       sent each job (never told of the engines' evictions), bounded to the engines' total cache blocks;</li>
 *   <li>blind: {@link PrefixLocator#NONE}.</li>
 * </ul>
 */
public final class KvRoutingBenchmark {

    static final List<String> MODES = List.of("precise", "approximate", "blind");

    private KvRoutingBenchmark() {
    }

    public static int run(Flags f, PrintStream out) {
        TraceFiles.TraceInput input = TraceFiles.input(f, "trace", TraceFiles.CONVERSATION);
        Path tracePath = input.path();
        double[] loads = numbers(f.string("loads", "1,2"));
        String fleet = f.string("fleet", "defaults");
        int cacheBlocks = f.intValue("cache-blocks", 0);
        int maxRequests = f.intValue("max-requests", 0);
        String policy = f.string("policy", "ect");
        PolicySimulator.InstanceModel instanceModel = PolicySimulator.InstanceModel.parse(f.string("instance-model", "continuous"));
        f.rejectUnknown();
        if (cacheBlocks < 0 || maxRequests < 0) {
            throw new IllegalArgumentException("--cache-blocks and --max-requests must be ≥ 0 (0: default)");
        }
        PolicySimulator sim = new PolicySimulator(PolicySimulator.Settings.forFleet(fleet)).withInstanceModel(instanceModel);
        List<TraceRequest> trace = input.read();
        if (trace.stream().allMatch(t -> t.blockHashes().isEmpty())) {
            throw new IllegalArgumentException("--trace " + tracePath + " has no hash_ids (a Mooncake .jsonl trace with hash_ids is needed: shared/traces or gen-trace --reuse > 0)");
        }
        if (maxRequests > 0 && trace.size() > maxRequests) {
            trace = trace.subList(0, maxRequests);
        }
        Map<String, Integer> perInstance = new LinkedHashMap<>();
        for (PoolProfile p : sim.poolProfiles()) {
            perInstance.put(p.poolId(), cacheBlocks > 0 ? cacheBlocks
                    : Math.max(1, sim.prefixCacheBlocksByPool().get(p.poolId()) / p.instances()));
        }
        int blockTokens = sim.settings().prefixBlockTokens();
        long wall = System.nanoTime();
        out.printf(Locale.ROOT, "== bench-kv-routing: %s, %d requests, fleet %s (%s), policy %s, engine prefix cache "
                        + "blocks per instance %s, %d-token blocks; instance model %s; fleet capacity %.2f jobs/s ==%n", tracePath.getFileName(),
                trace.size(), fleet, describe(sim), policy, perInstance, blockTokens,
                instanceModel.name().toLowerCase(Locale.ROOT), sim.capacityJobsPerSecond(trace));
        out.println(io.inferq.loadtests.policy.CacheAwareCapacity.measure(sim, trace, policy).describe(input.label(), loads));
        out.printf(Locale.ROOT, "%-5s %-12s %7s %10s %8s %8s %6s %6s %8s %10s%n", "load", "routing", "hit%", "goodput/s",
                "p50TTFT", "p99TTFT", "rej", "exp", "best%", "events");
        for (double load : loads) {
            List<TraceRequest> scaled = sim.scaleToLoad(trace, load);
            Map<String, PolicySimulator.Result> byMode = new LinkedHashMap<>();
            for (String mode : MODES) {
                Engines engines = new Engines(sim.poolProfiles(), perInstance, mode, blockTokens);
                PolicySimulator.Result r = sim.run(scaled, policy, engines, false);
                byMode.put(mode, r);
                out.printf(Locale.ROOT, "%-5s %-12s %7.1f %10.3f %8.2f %8.2f %6d %6d %8.1f %10d%n", load + "x", mode,
                        r.prefixHitRatio() * 100, r.goodput(), r.p50Ttft(), r.p99Ttft(), r.rejected(), r.expired(),
                        r.bestPoolHitRatio() * 100, engines.eventBatches);
            }
            PolicySimulator.Result p = byMode.get("precise");
            for (String other : List.of("approximate", "blind")) {
                PolicySimulator.Result o = byMode.get(other);
                out.printf(Locale.ROOT, "RATIO %.1fx precise÷%s: hit %.2f, goodput %.2f, p50 TTFT %.2f, p99 TTFT %.2f%n",
                        load, other, p.prefixHitRatio() / o.prefixHitRatio(), p.goodput() / o.goodput(),
                        p.p50Ttft() / o.p50Ttft(), p.p99Ttft() / o.p99Ttft());
            }
        }
        out.printf(Locale.ROOT, "hit%% = cached prompt tokens ÷ prompt tokens where jobs ran; best%% = had each job run on "
                + "the instance caching most of its prefix; events = KV event batches the engines published; wall time %.1f s%n",
                (System.nanoTime() - wall) / 1e9);
        return 0;
    }

    private static String describe(PolicySimulator sim) {
        StringBuilder sb = new StringBuilder();
        for (PoolProfile p : sim.poolProfiles()) {
            sb.append(sb.length() == 0 ? "" : ", ").append(p.instances()).append("×").append(p.poolId());
        }
        return sb.toString();
    }

    private static double[] numbers(String list) {
        try {
            double[] v = Arrays.stream(list.split(",")).mapToDouble(Double::parseDouble).toArray();
            if (Arrays.stream(v).anyMatch(x -> !(x > 0) || Double.isInfinite(x))) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--loads must be a comma-separated list of positive numbers, was '" + list + "'", e);
        }
    }

    /** Token ids of one trace block: derived from its hash id only, so equal hash ids give equal tokens. */
    static int[] blockTokens(long hashId, int blockTokens) {
        int[] t = new int[blockTokens];
        long x = hashId * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        for (int i = 0; i < blockTokens; i++) {
            x += 0x9E3779B97F4A7C15L;
            long z = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            t[i] = (int) ((z ^ (z >>> 31)) & 0x1FFFF); // a 128k vocabulary
        }
        return t;
    }

    /** The engines of one run, and the routing mode's locator. */
    static final class Engines implements PolicySimulator.EngineCaches {
        private final Map<String, Engine[]> engines = new LinkedHashMap<>();
        private final String mode;
        private final int blockTokens;
        private final EngineBlockIndex index;
        private final InMemoryPrefixIndex approximate;
        private final PrefixLocator locator;
        long eventBatches;

        Engines(List<PoolProfile> pools, Map<String, Integer> blocksPerInstance, String mode, int blockTokens) {
            this.mode = mode;
            this.blockTokens = blockTokens;
            this.index = new EngineBlockIndex(new BlockHasher(HashSeed.derive("bench-kv-routing", "trace-blocks", ""),
                    blockTokens), java.time.Clock.fixed(java.time.Instant.EPOCH, java.time.ZoneOffset.UTC));
            long total = 0;
            Map<String, Long> staleAfter = new LinkedHashMap<>();
            for (PoolProfile p : pools) {
                Engine[] a = new Engine[p.instances()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = new Engine(blocksPerInstance.get(p.poolId()));
                    total += a[i].capacity;
                }
                engines.put(p.poolId(), a);
                index.registerPool(p.poolId(), p.instances());
                for (int i = 0; i < a.length; i++) {
                    index.heardFrom(p.poolId(), i);
                }
                staleAfter.put(p.poolId(), Long.MAX_VALUE);
            }
            this.approximate = new InMemoryPrefixIndex((int) Math.min(Integer.MAX_VALUE, total));
            this.locator = switch (mode) {
                case "precise" -> new Remembering(new EnginePrefixLocator(PrefixLocator.NONE, index, staleAfter,
                        new SimpleMeterRegistry()), blockTokens);
                case "approximate" -> IndexPrefixLocator.direct(approximate);
                case "blind" -> PrefixLocator.NONE;
                default -> throw new IllegalArgumentException("unknown routing mode " + mode);
            };
        }

        @Override
        public int leadingCached(String poolId, int instance, List<Long> hashes) {
            return engines.get(poolId)[instance].leading(hashes);
        }

        @Override
        public void store(String poolId, int instance, List<Long> hashes) {
            List<KvEventBatch.Event> events = engines.get(poolId)[instance].store(hashes, mode.equals("precise")
                    ? blockTokens : 0);
            if (mode.equals("precise") && !events.isEmpty()) {
                index.apply(poolId, instance, new KvEventBatch(0, events, null));
                eventBatches++;
            } else if (mode.equals("approximate")) {
                approximate.recordStored(new BlockHolder(poolId + "/" + instance, poolId), hashes);
            }
        }

        @Override
        public PrefixLocator locator() {
            return locator;
        }

        EngineBlockIndex index() {
            return index;
        }
    }

    /** One engine instance's prefix cache: LRU over blocks, a prompt's head more recent than its tail. */
    static final class Engine {
        final int capacity;
        final LinkedHashMap<Long, Boolean> blocks = new LinkedHashMap<>(16, 0.75f, true);

        Engine(int capacity) {
            this.capacity = capacity;
        }

        int leading(List<Long> hashes) {
            int n = 0;
            while (n < hashes.size() && blocks.containsKey(hashes.get(n))) {
                n++;
            }
            return n;
        }

        /** Stores a prompt's blocks; returns the KV events (none when {@code tokensPerBlock} is 0). */
        List<KvEventBatch.Event> store(List<Long> hashes, int tokensPerBlock) {
            List<KvEventBatch.Event> events = new ArrayList<>();
            for (int b = 0; b < hashes.size(); b++) {
                Long h = hashes.get(b);
                if (blocks.putIfAbsent(h, Boolean.TRUE) == null && tokensPerBlock > 0) {
                    events.add(new KvEventBatch.BlockStored(List.of(Long.toString(h)),
                            b == 0 ? null : Long.toString(hashes.get(b - 1)), blockTokens(h, tokensPerBlock),
                            tokensPerBlock, false, null));
                }
            }
            for (int b = hashes.size() - 1; b >= 0; b--) {
                blocks.get(hashes.get(b)); // touch tail first: the head is the most recently used, evicted last
            }
            List<String> removed = new ArrayList<>();
            var it = blocks.keySet().iterator();
            while (blocks.size() > capacity && it.hasNext()) {
                Long h = it.next();
                it.remove();
                removed.add(Long.toString(h));
            }
            if (!removed.isEmpty() && tokensPerBlock > 0) {
                events.add(new KvEventBatch.BlockRemoved(removed, null));
            }
            return events;
        }
    }

    /** Precise mode's intake step: {@link EnginePrefixLocator#remember} a prompt's tokens the first time it is seen. */
    private static final class Remembering implements PrefixLocator {
        private final EnginePrefixLocator delegate;
        private final int blockTokens;
        private final Set<List<Long>> seen = new HashSet<>();

        Remembering(EnginePrefixLocator delegate, int blockTokens) {
            this.delegate = delegate;
            this.blockTokens = blockTokens;
        }

        private void remember(List<Long> hashes) {
            if (hashes.isEmpty() || !seen.add(hashes)) {
                return;
            }
            int[] tokens = new int[hashes.size() * blockTokens];
            for (int b = 0; b < hashes.size(); b++) {
                System.arraycopy(blockTokens(hashes.get(b), blockTokens), 0, tokens, b * blockTokens, blockTokens);
            }
            delegate.remember(hashes, tokens);
        }

        @Override
        public Map<String, Integer> cachedLeadingBlocksByPool(List<Long> blockHashes) {
            remember(blockHashes);
            return delegate.cachedLeadingBlocksByPool(blockHashes);
        }

        @Override
        public int[] cachedLeadingBlocksByInstance(String poolId, List<Long> blockHashes) {
            remember(blockHashes);
            return delegate.cachedLeadingBlocksByInstance(poolId, blockHashes);
        }
    }
}
