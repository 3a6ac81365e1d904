package io.inferq.loadtests.policy;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.TraceFiles;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code sim-policies}: the {@link PolicySimulator}'s own report on any traces, in either of its modes, from the load-test
 * launcher or from {@code PolicySimulator}'s {@code main}.
 * <ul>
 *   <li>{@code --mode policies}: every policy at 0.5×, 1× and 2× nominal capacity (plus ect with prefix-blind routing
 *       when the trace has prefix information), with the ratios ect ÷ each baseline;</li>
 *   <li>{@code --mode prefix}: ect with prefix-aware vs prefix-blind routing at each of {@code --loads} (needs a trace
 *       with {@code hash_ids}).</li>
 * </ul>
 * Before each trace's table a {@code CAPACITY} line states the loads against the fleet's nominal capacity and against
 * its capacity with the prefix cache's effect ({@link CacheAwareCapacity}).
 */
public final class SimulatorCommand {

    private SimulatorCommand() {
    }

    public static int run(Flags f, PrintStream out) {
        String fleetName = f.string("fleet", "defaults");
        String mode = f.string("mode", fleetName.equals("defaults") ? "policies" : "prefix");
        List<TraceFiles.TraceInput> traces = f.has("trace")
                ? TraceFiles.inputs(f, "trace", List.of())
                : inputsIn(Path.of(f.string("traces", TraceFiles.defaultDir().toString())), TraceFiles.format(f),
                        mode.equals("prefix") ? List.of(TraceFiles.CONVERSATION) : List.of(TraceFiles.CONVERSATION, TraceFiles.AZURE));
        PolicySimulator.Settings s = PolicySimulator.Settings.forFleet(fleetName);
        s = s.withSlo(f.positive("ttft-slo-s", s.ttftSloSeconds()), f.positive("tpot-slo-s", s.tpotSloSeconds()));
        int cacheBlocks = f.intValue("cache-blocks", -1);
        double[] loads = numbers(f.string("loads", "0.5,1,2"));
        PolicySimulator.InstanceModel instanceModel = PolicySimulator.InstanceModel.parse(f.string("instance-model", "continuous"));
        f.rejectUnknown();
        if (!mode.equals("policies") && !mode.equals("prefix")) {
            throw new IllegalArgumentException("--mode must be policies or prefix, was '" + mode + "'");
        }
        if (cacheBlocks >= 0) {
            s = s.withPrefixCacheBlocksPerPool(cacheBlocks);
        }
        PolicySimulator sim = new PolicySimulator(s).withInstanceModel(instanceModel);
        long wall = System.nanoTime();
        if (mode.equals("prefix")) {
            out.println(PolicySimulator.describeFleet(sim));
        }
        for (TraceFiles.TraceInput in : traces) {
            List<TraceRequest> trace = in.read();
            boolean hashes = trace.stream().anyMatch(t -> !t.blockHashes().isEmpty());
            if (mode.equals("prefix") && !hashes) {
                throw new IllegalArgumentException("--mode prefix needs a trace with hash_ids; " + in.path() + " has none");
            }
            out.println(CacheAwareCapacity.measure(sim, trace, "ect").describe(in.label(),
                    mode.equals("prefix") ? loads : new double[] {0.5, 1, 2}));
            out.println(mode.equals("prefix")
                    ? PolicySimulator.prefixReport(sim, in.label(), trace, loads)
                    : PolicySimulator.report(sim, in.label(), trace, hashes));
        }
        out.printf(Locale.ROOT, "simulated fleet %s (instance model %s): %s; SLO TTFT ≤ %.1f s, TPOT ≤ %.0f ms; prefix cache %s blocks/pool; "
                        + "wall time %.1f s%n", s.fleet(), instanceModel.name().toLowerCase(Locale.ROOT),
                sim.poolProfiles().stream().map(p -> p.instances() + "×[" + sim.roofline(p.poolId()).describe() + "]").toList(),
                s.ttftSloSeconds(), s.tpotSloSeconds() * 1000,
                cacheBlocks >= 0 ? Integer.toString(cacheBlocks) : "the fleet's", (System.nanoTime() - wall) / 1e9);
        return 0;
    }

    /**
     * The legacy positional form of {@code PolicySimulator}'s main, {@code [traceDir] [ttftSloSeconds] [tpotSloSeconds]
     * [prefixCacheBlocksPerPool]} before any flag, as flags.
     */
    static List<String> legacyArgs(String[] args) {
        String[] names = {"--traces", "--ttft-slo-s", "--tpot-slo-s", "--cache-blocks"};
        List<String> out = new ArrayList<>();
        int positional = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                out.add(args[i]);
                if (!args[i].contains("=") && i + 1 < args.length && !args[i + 1].startsWith("--")) {
                    out.add(args[++i]);
                }
            } else if (positional < names.length) {
                out.add(names[positional++]);
                out.add(args[i]);
            } else {
                throw new IllegalArgumentException("unexpected argument '" + args[i] + "'");
            }
        }
        return out;
    }

    private static List<TraceFiles.TraceInput> inputsIn(Path dir, TraceReader.Format format, List<String> names) {
        List<TraceFiles.TraceInput> out = new ArrayList<>();
        names.forEach(n -> out.add(new TraceFiles.TraceInput(dir.resolve(n), format)));
        return out;
    }

    private static double[] numbers(String csv) {
        String[] parts = csv.split(",");
        double[] out = new double[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Double.parseDouble(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--loads must be numbers separated by commas, was '" + csv + "'", e);
            }
            if (!(out[i] > 0)) {
                throw new IllegalArgumentException("--loads must be positive, was '" + csv + "'");
            }
        }
        return out;
    }
}
