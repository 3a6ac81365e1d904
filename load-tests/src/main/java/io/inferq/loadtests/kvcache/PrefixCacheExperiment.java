package io.inferq.loadtests.kvcache;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.inferq.kvcache.KvFormat;
import io.inferq.kvcache.KvGeometry;
import io.inferq.kvcache.hashing.BlockHasher;
import io.inferq.kvcache.hashing.HashSeed;
import io.inferq.kvcache.index.BlockHolder;
import io.inferq.kvcache.index.InMemoryPrefixIndex;
import io.inferq.kvcache.index.PrefixIndex;
import io.inferq.kvcache.store.KvBlockStore;
import io.inferq.kvcache.store.PrefixRead;
import io.inferq.kvcache.store.SharedKvTier;
import io.inferq.kvcache.store.SimulatedKvPayloads;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.TraceFiles;
import io.inferq.loadtests.embedded.EmbeddedInferq;
import io.inferq.loadtests.policy.TraceRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.function.IntUnaryOperator;

/**
 * Prefix-cache hit ratio on the Mooncake conversation trace: infinite-cache bound vs. a global shared
 * two-tier cache (8 local Caffeine tiers + one shared Hazelcast map) vs. 8 private local-only caches of the
 * same total size.
 *
 * <p>Method. Every trace block id becomes 512 deterministic tokens ({@link TracePrefixSynthesizer}); each
 * prompt (cut to its {@code input_length}) goes through the real {@link BlockHasher} with 64-token blocks (8
 * per full trace block; a partial last trace block contributes only its full 64-token blocks). Requests are
 * replayed in trace order, one at a time; a request is served by worker {@code i mod 8} (round robin:
 * prefix-unaware, load-balanced). The worker reads the longest cached prefix ({@link KvBlockStore#readPrefix},
 * checksums verified, payloads also compared with the deterministic generator) and stores the rest.
 * Hit ratio = cached leading blocks / all full blocks, in 64-token blocks.
 *
 * <p>Capacity. Total = {@code --capacity-share} (default 25%) of the trace's distinct 512-token blocks, i.e. {@code 0.25 × distinct × 8}
 * 64-token blocks, spread over 8 workers. Shared configuration: {@code localFraction} of it (default 10%)
 * as the 8 local tiers, the rest as the shared map (one real Hazelcast member holds what 8 members would;
 * bounded by the shared tier's own exact LRU over whole blocks, {@link SharedKvTier}; mode {@code hazelcast}
 * or {@code both} also replays the previous design, Hazelcast's sampled per-partition LRU via
 * {@link KvBlockStore#sharedMapConfig}). Private configuration: 8 local-only tiers of {@code total / 8} each. Payloads are
 * scaled to 1 byte per token (capacity is counted in blocks, so the scale does not change hit ratios).
 *
 * <p>Usage: the {@code kv-experiment} command of the load-test launcher, {@code --trace <file with hash_ids>
 * --local-fraction 0.10 --mode recency|hazelcast|both --capacity-share 0.25 --hazelcast-port 0 (a free port)
 * --max-requests 0 (all)}, or this class's {@code main} with the same flags (or the older positional form
 * {@code <trace> [localFraction] [mode]}).
 */
public final class PrefixCacheExperiment {

    private static final int WORKERS = 8;
    private static final int BLOCK = 64;
    private static final KvGeometry SCALED = new KvGeometry("scaled-1B-per-token", 1, 1, 1);
    private static final KvFormat FORMAT = new KvFormat("sim", "scaled", "flat", BLOCK, "deepseek-v3");

    private PrefixCacheExperiment() {
    }

    public static void main(String[] args) {
        List<String> flags = new ArrayList<>();
        String[] legacy = {"--trace", "--local-fraction", "--mode"};
        int positional = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                flags.add(args[i]);
                if (!args[i].contains("=") && i + 1 < args.length && !args[i + 1].startsWith("--")) {
                    flags.add(args[++i]);
                }
            } else if (positional < legacy.length) {
                flags.add(legacy[positional++]);
                flags.add(args[i]);
            } else {
                System.err.println("error: unexpected argument '" + args[i] + "'");
                System.exit(2);
            }
        }
        int rc;
        try {
            rc = run(Flags.parse(flags), System.out);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            rc = 2;
        }
        System.exit(rc);
    }

    /** The {@code kv-experiment} command; see the class comment for its flags. */
    public static int run(Flags f, PrintStream out) {
        TraceFiles.TraceInput input = TraceFiles.input(f, "trace", TraceFiles.CONVERSATION);
        double localFraction = f.doubleValue("local-fraction", 0.10);
        String mode = f.string("mode", "recency");
        double capacityShare = f.positive("capacity-share", 0.25);
        int hazelcastPort = f.intValue("hazelcast-port", 0);
        int maxRequests = f.intValue("max-requests", 0);
        f.rejectUnknown();
        if (!List.of("recency", "hazelcast", "both").contains(mode)) {
            throw new IllegalArgumentException("--mode must be recency, hazelcast or both, was " + mode);
        }
        if (!(localFraction >= 0 && localFraction <= 1)) {
            throw new IllegalArgumentException("--local-fraction must be in [0, 1], was " + localFraction);
        }
        if (capacityShare > 1 || hazelcastPort < 0 || hazelcastPort > 65_535 || maxRequests < 0) {
            throw new IllegalArgumentException("--capacity-share must be in (0, 1], --hazelcast-port in [0, 65535] (0: a free "
                    + "port), --max-requests ≥ 0 (0: all)");
        }
        long t0 = System.nanoTime();
        List<TraceRequest> trace = input.read();
        if (maxRequests > 0 && trace.size() > maxRequests) {
            trace = trace.subList(0, maxRequests);
        }
        if (trace.stream().allMatch(t -> t.blockHashes().isEmpty())) {
            throw new IllegalArgumentException("--trace " + input.path() + " has no hash_ids: the experiment replays a trace's "
                    + "prefix sharing (a Mooncake trace, or gen-trace --reuse > 0)");
        }
        TracePrefixSynthesizer synth = TracePrefixSynthesizer.mooncake();
        BlockHasher hasher = new BlockHasher(HashSeed.derive("deepseek-v3", "synthetic:mooncake-512", ""), BLOCK);

        List<List<Long>> prompts = new ArrayList<>(trace.size());
        Set<Long> traceIds = new HashSet<>();
        Set<Long> seenIds = new HashSet<>();
        long traceBlocks = 0;
        long traceHits = 0;
        for (TraceRequest r : trace) {
            prompts.add(hasher.blockHashes(synth.promptTokens(r)));
            int k = 0;
            while (k < r.blockHashes().size() && seenIds.contains(r.blockHashes().get(k))) {
                k++;
            }
            traceHits += k;
            traceBlocks += r.blockHashes().size();
            seenIds.addAll(r.blockHashes());
            traceIds.addAll(r.blockHashes());
        }
        Set<Long> seen = new HashSet<>();
        long blocks = 0;
        long boundHits = 0;
        for (List<Long> p : prompts) {
            int k = 0;
            while (k < p.size() && seen.contains(p.get(k))) {
                k++;
            }
            boundHits += k;
            blocks += p.size();
            seen.addAll(p);
        }
        long capacity = Math.round(capacityShare * traceIds.size() * (TracePrefixSynthesizer.MOONCAKE_BLOCK_TOKENS / BLOCK));
        long localPerWorker = Math.round(capacity * localFraction / WORKERS);
        long sharedBlocks = capacity - localPerWorker * WORKERS;
        long blockBytes = SCALED.bytesPerBlock(BLOCK);

        out.printf(Locale.ROOT, "trace: %d requests, %d distinct 512-token blocks, %d distinct 64-token blocks, %d 64-token block lookups (hashed in %.1f s)%n",
                trace.size(), traceIds.size(), seen.size(), blocks, (System.nanoTime() - t0) / 1e9);
        out.printf(Locale.ROOT, "infinite-cache bound: %.2f%% of 512-token trace blocks, %.2f%% of 64-token blocks%n",
                100.0 * traceHits / traceBlocks, 100.0 * boundHits / blocks);
        out.printf(Locale.ROOT, "capacity: %d 64-token blocks total (%.0f%% of distinct trace blocks x 8) over %d workers%n", capacity,
                capacityShare * 100, WORKERS);

        IntUnaryOperator roundRobin = i -> i % WORKERS;

        // 1. global shared two-tier cache, real Hazelcast member: the shared tier's own exact LRU per member
        //    (SharedKvTier), and optionally Hazelcast's sampled per-partition LRU (the previous design)
        Result shared = null;
        Result hazelcastOnly = null;
        HazelcastInstance hz = Hazelcast.newHazelcastInstance(loopbackConfig(hazelcastPort > 0 ? hazelcastPort : EmbeddedInferq.freePort()));
        try {
            if (!mode.equals("hazelcast")) {
                SimpleMeterRegistry reg = new SimpleMeterRegistry();
                IMap<String, byte[]> map = SharedKvTier.install(hz, "kv-experiment-recency", Math.toIntExact(sharedBlocks), reg);
                shared = replayShared(prompts, map, index(capacity), localPerWorker, blockBytes, roundRobin);
                out.printf(Locale.ROOT, "shared two-tier, shared-tier LRU (8 local tiers of %d blocks + shared map of %d blocks; round robin): hit ratio %.2f%% (local %.2f%%, shared %.2f%%), integrity mismatches %d, %.1f s; map size %d, shared evictions %.0f blocks%n",
                        localPerWorker, sharedBlocks, 100.0 * shared.hits() / blocks, 100.0 * shared.local / blocks,
                        100.0 * shared.shared / blocks, shared.corrupt, shared.seconds, map.size(),
                        reg.get("inferq.kv.evictions").functionCounter().count());
            }
            if (!mode.equals("recency")) {
                String mapName = "kv-experiment-hazelcast";
                hz.getConfig().addMapConfig(KvBlockStore.sharedMapConfig(mapName, Math.toIntExact(sharedBlocks)));
                IMap<String, byte[]> map = hz.getMap(mapName);
                hazelcastOnly = replayShared(prompts, map, index(capacity), localPerWorker, blockBytes, roundRobin);
                out.printf(Locale.ROOT, "shared two-tier, Hazelcast sampled LRU only (same sizes; round robin): hit ratio %.2f%% (local %.2f%%, shared %.2f%%), integrity mismatches %d, %.1f s; map size %d%n",
                        100.0 * hazelcastOnly.hits() / blocks, 100.0 * hazelcastOnly.local / blocks,
                        100.0 * hazelcastOnly.shared / blocks, hazelcastOnly.corrupt, hazelcastOnly.seconds, map.size());
                map.destroy();
            }
        } finally {
            hz.shutdown();
        }

        // 2. private local-only caches of the same total size
        Result priv = replay(prompts, privateStores(capacity / WORKERS), roundRobin, blockBytes);
        out.printf(Locale.ROOT, "8 private local-only caches of %d blocks (round robin): hit ratio %.2f%%, %.1f s%n",
                capacity / WORKERS, 100.0 * priv.hits() / blocks, priv.seconds);
        // 2b. for reference: the same private caches with sticky routing on the first 1,024 tokens
        IntUnaryOperator sticky = i -> {
            List<Long> p = prompts.get(i);
            return p.isEmpty() ? i % WORKERS : Math.floorMod(Long.hashCode(p.get(Math.min(p.size(), 16) - 1)), WORKERS);
        };
        Result privSticky = replay(prompts, privateStores(capacity / WORKERS), sticky, blockBytes);
        out.printf(Locale.ROOT, "8 private local-only caches (sticky on hash of block min(n,16)-1, reference only): hit ratio %.2f%%%n",
                100.0 * privSticky.hits() / blocks);

        if (shared != null) {
            out.printf(Locale.ROOT, "shared / bound = %.3f   private(rr) / bound = %.3f   (target shared / bound >= 0.95)%n",
                    (double) shared.hits() / boundHits, (double) priv.hits() / boundHits);
        }
        if (hazelcastOnly != null) {
            out.printf(Locale.ROOT, "shared (Hazelcast sampled LRU only) / bound = %.3f%n", (double) hazelcastOnly.hits() / boundHits);
        }
        out.printf(Locale.ROOT, "total %.1f s%n", (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    private static PrefixIndex index(long capacity) {
        return new InMemoryPrefixIndex(Math.toIntExact(capacity));
    }

    private static Result replayShared(List<List<Long>> prompts, IMap<String, byte[]> map, PrefixIndex index,
                                       long localPerWorker, long blockBytes, IntUnaryOperator route) {
        List<KvBlockStore> stores = new ArrayList<>();
        for (int w = 0; w < WORKERS; w++) {
            stores.add(KvBlockStore.builder().holder(new BlockHolder("w" + w, "pool"))
                    .localMaxBytes(localPerWorker * blockBytes).sharedMap(map).prefixIndex(index)
                    .meterRegistry(new SimpleMeterRegistry()).build());
        }
        return replay(prompts, stores, route, blockBytes);
    }

    private static List<KvBlockStore> privateStores(long blocksPerWorker) {
        List<KvBlockStore> stores = new ArrayList<>();
        for (int w = 0; w < WORKERS; w++) {
            stores.add(KvBlockStore.builder().holder(new BlockHolder("p" + w, "pool"))
                    .localMaxBytes(blocksPerWorker * SCALED.bytesPerBlock(BLOCK))
                    .meterRegistry(new SimpleMeterRegistry()).build());
        }
        return stores;
    }

    private static final class Result {
        long local;
        long shared;
        long corrupt;
        double seconds;

        long hits() {
            return local + shared;
        }
    }

    private static Result replay(List<List<Long>> prompts, List<KvBlockStore> stores, IntUnaryOperator route, long blockBytes) {
        long start = System.nanoTime();
        Result res = new Result();
        int size = Math.toIntExact(blockBytes);
        for (int i = 0; i < prompts.size(); i++) {
            List<Long> hashes = prompts.get(i);
            KvBlockStore store = stores.get(route.applyAsInt(i));
            PrefixRead read = store.readPrefix(FORMAT, hashes);
            res.local += read.localBlocks();
            res.shared += read.sharedBlocks();
            for (int b = 0; b < read.blocks(); b++) {
                if (!SimulatedKvPayloads.matches(FORMAT, hashes.get(b), read.payloads().get(b))) {
                    res.corrupt++;
                }
            }
            List<Long> missing = hashes.subList(read.blocks(), hashes.size());
            List<byte[]> payloads = new ArrayList<>(missing.size());
            for (Long h : missing) {
                payloads.add(SimulatedKvPayloads.generate(FORMAT, h, size));
            }
            store.storeAll(FORMAT, missing, payloads);
        }
        res.seconds = (System.nanoTime() - start) / 1e9;
        return res;
    }

    private static Config loopbackConfig(int port) {
        Config c = new Config();
        c.setClusterName("inferq-kv-experiment-" + UUID.randomUUID());
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.wait.seconds.before.join", "0");
        c.setProperty("hazelcast.max.wait.seconds.before.join", "0");
        c.getNetworkConfig().setPort(port).setPortAutoIncrement(false);
        c.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        JoinConfig join = c.getNetworkConfig().getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(true).addMember("127.0.0.1:" + port);
        return c;
    }
}
