package io.inferq.loadtests.trace;

import io.inferq.loadtests.Flags;
import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code gen-trace}: a synthetic workload trace, so policies can be checked on workloads other than the shared traces
 * (other length mixes, burst shapes and prefix reuse), written in any format {@link TraceReader} reads.
 *
 * <ul>
 *   <li><b>Lengths</b> ({@code --lengths}): a mix of components {@code weight:inputMedian:outputMedian}, each length
 *       log-normal around its median with {@code --length-spread} (σ of the log); presets {@code short} (400:150),
 *       {@code long} (8000:400), {@code mixed} (0.8 short + 0.2 long), {@code bimodal} (0.5 short + 0.5 of 30000:600).
 *       A conversation's later turn has the input of its new message on top of the whole history.</li>
 *   <li><b>Arrivals</b> ({@code --arrivals}) at a mean {@code --rate} per second: {@code poisson}, {@code uniform},
 *       {@code bursts} (rate × {@code --burst-factor} for {@code --burst-s} at the start of every
 *       {@code --burst-every-s}, lower in between so the mean stays {@code --rate}), {@code ramp} (0.2× to 1.8× of the
 *       rate, linearly).</li>
 *   <li><b>Prefix reuse</b> ({@code --reuse} in [0, 1]): the probability that a request is the next turn of a live
 *       conversation (it resends the conversation's history, so it shares its prefix blocks) rather than a new one;
 *       every conversation starts with {@code --shared-prefix-blocks} blocks common to all (a system prompt). At most
 *       {@code --sessions} conversations are live; one picked at random continues. {@code hash_ids} follow Mooncake's
 *       scheme: one id per (possibly partial) 512-token block, equal ids only for equal whole prefixes.</li>
 * </ul>
 * Deterministic for a {@code --seed}. Prefix information is written only in the Mooncake format (the CSV formats have
 * no column for it).
 */
public final class SyntheticTrace {

    /** Tokens per {@code hash_ids} block, as in the Mooncake traces. */
    public static final int BLOCK_TOKENS = 512;
    /** Longest prompt generated (a conversation's history is cut here). */
    public static final int MAX_INPUT_TOKENS = 131_072;

    /** One length component: relative weight, median input and output tokens. */
    public record LengthMix(double weight, int inputMedian, int outputMedian) {
    }

    /**
     * @param requests           how many requests
     * @param ratePerSecond      mean arrival rate
     * @param arrivals           poisson | uniform | bursts | ramp
     * @param burstFactor        bursts: rate during a burst ÷ mean rate (&gt; 1)
     * @param burstSeconds       bursts: length of a burst
     * @param burstEverySeconds  bursts: period
     * @param lengths            the length mix
     * @param lengthSpread       σ of the log of each length
     * @param reuse              probability that a request continues a live conversation
     * @param sharedPrefixBlocks blocks every conversation starts with
     * @param sessions           most live conversations
     * @param seed               PRNG seed
     */
    public record Spec(int requests, double ratePerSecond, String arrivals, double burstFactor, double burstSeconds,
                       double burstEverySeconds, List<LengthMix> lengths, double lengthSpread, double reuse,
                       int sharedPrefixBlocks, int sessions, long seed) {
        public Spec {
            require(requests >= 1, "--requests must be at least 1, was " + requests);
            require(ratePerSecond > 0 && Double.isFinite(ratePerSecond), "--rate must be positive, was " + ratePerSecond);
            require(List.of("poisson", "uniform", "bursts", "ramp").contains(arrivals),
                    "--arrivals must be poisson, uniform, bursts or ramp, was '" + arrivals + "'");
            require(burstFactor >= 1, "--burst-factor must be at least 1, was " + burstFactor);
            require(burstSeconds > 0 && burstEverySeconds > burstSeconds,
                    "--burst-s must be positive and below --burst-every-s, were " + burstSeconds + " and " + burstEverySeconds);
            require(!lengths.isEmpty(), "--lengths names no component");
            require(lengthSpread >= 0 && lengthSpread <= 3, "--length-spread must be in [0, 3], was " + lengthSpread);
            require(reuse >= 0 && reuse <= 1, "--reuse must be in [0, 1], was " + reuse);
            require(sharedPrefixBlocks >= 0, "--shared-prefix-blocks must not be negative, was " + sharedPrefixBlocks);
            require(sessions >= 1, "--sessions must be at least 1, was " + sessions);
            lengths = List.copyOf(lengths);
        }
    }

    private SyntheticTrace() {
    }

    public static int run(Flags f, PrintStream out) {
        Path file = Path.of(f.string("file", "target/traces/synthetic.jsonl"));
        TraceReader.Format format = TraceReader.Format.parse(f.string("format", "mooncake"));
        Spec spec = new Spec(f.intValue("requests", 2000), f.positive("rate", 5), f.string("arrivals", "poisson"),
                f.doubleValue("burst-factor", 4), f.positive("burst-s", 10), f.positive("burst-every-s", 60),
                lengths(f.string("lengths", "mixed")), f.doubleValue("length-spread", 0.8), f.doubleValue("reuse", 0.5),
                f.intValue("shared-prefix-blocks", 1), f.intValue("sessions", 200), f.longValue("seed", 1));
        f.rejectUnknown();
        if (format == TraceReader.Format.AUTO) {
            throw new IllegalArgumentException("--format must be mooncake, azure or burstgpt");
        }
        List<TraceRequest> trace = generate(spec);
        write(trace, format, file);
        double span = trace.get(trace.size() - 1).arrivalMs() / 1000.0;
        out.printf(Locale.ROOT, "wrote %s (%s): %d requests over %.1f s (%.2f/s), input mean %.0f tokens, output mean %.0f, "
                        + "%s%n", file.toAbsolutePath(), format.flagName(), trace.size(), span, trace.size() / Math.max(span, 1e-3),
                trace.stream().mapToInt(TraceRequest::inputTokens).average().orElse(0),
                trace.stream().mapToInt(TraceRequest::outputTokens).average().orElse(0),
                format == TraceReader.Format.MOONCAKE
                        ? String.format(Locale.ROOT, "infinite-cache prefix hit ratio %.1f%% of blocks", 100 * boundHitRatio(trace))
                        : "no prefix information (CSV format)");
        return 0;
    }

    /** The spec's requests, in arrival order (ms from 0). */
    public static List<TraceRequest> generate(Spec spec) {
        SplittableRandom rnd = new SplittableRandom(spec.seed());
        double totalWeight = spec.lengths().stream().mapToDouble(LengthMix::weight).sum();
        List<long[]> live = new ArrayList<>();          // per conversation: ids of its last prompt
        List<int[]> liveTokens = new ArrayList<>();     // per conversation: {last input, last output}
        long nextId = spec.sharedPrefixBlocks();
        double spanS = spec.requests() / spec.ratePerSecond();
        double t = 0;
        List<TraceRequest> out = new ArrayList<>(spec.requests());
        for (int i = 0; i < spec.requests(); i++) {
            if (i > 0) {
                t += gap(spec, t, spanS, rnd);
            }
            LengthMix mix = pick(spec.lengths(), totalWeight, rnd);
            int newInput = logNormal(mix.inputMedian(), spec.lengthSpread(), rnd);
            int output = logNormal(mix.outputMedian(), spec.lengthSpread(), rnd);
            boolean continues = !live.isEmpty() && rnd.nextDouble() < spec.reuse();
            List<Long> ids = new ArrayList<>();
            int input;
            int session;
            if (continues) {
                session = rnd.nextInt(live.size());
                long[] prev = live.get(session);
                int[] prevTokens = liveTokens.get(session);
                input = (int) Math.min(MAX_INPUT_TOKENS, (long) prevTokens[0] + prevTokens[1] + newInput);
                int kept = Math.min(prevTokens[0] / BLOCK_TOKENS, prev.length); // the previous prompt's full blocks
                kept = Math.min(kept, blocks(input));
                for (int b = 0; b < kept; b++) {
                    ids.add(prev[b]);
                }
            } else {
                session = -1;
                input = newInput;
                int shared = Math.min(spec.sharedPrefixBlocks(), input / BLOCK_TOKENS);
                for (int b = 0; b < shared; b++) {
                    ids.add((long) b);
                }
            }
            while (ids.size() < blocks(input)) {
                ids.add(nextId++);
            }
            long[] idArray = ids.stream().mapToLong(Long::longValue).toArray();
            if (session >= 0) {
                live.set(session, idArray);
                liveTokens.set(session, new int[] {input, output});
            } else if (live.size() < spec.sessions()) {
                live.add(idArray);
                liveTokens.add(new int[] {input, output});
            } else { // a new conversation replaces a random one
                int r = rnd.nextInt(live.size());
                live.set(r, idArray);
                liveTokens.set(r, new int[] {input, output});
            }
            out.add(new TraceRequest(Math.round(t * 1000), input, output, ids));
        }
        return out;
    }

    /** Writes {@code trace} in {@code format} (Mooncake keeps {@code hash_ids}; the CSV formats cannot). */
    public static void write(List<TraceRequest> trace, TraceReader.Format format, Path file) {
        try {
            if (file.toAbsolutePath().getParent() != null) {
                Files.createDirectories(file.toAbsolutePath().getParent());
            }
            try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
                LocalDateTime base = LocalDateTime.of(2024, 1, 1, 0, 0);
                DateTimeFormatter azureTs = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSSS", Locale.ROOT);
                switch (format) {
                    case AZURE -> w.write("TIMESTAMP,ContextTokens,GeneratedTokens\n");
                    case BURSTGPT -> w.write("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n");
                    default -> {
                    }
                }
                for (TraceRequest r : trace) {
                    switch (format) {
                        case MOONCAKE -> {
                            StringBuilder ids = new StringBuilder();
                            for (Long id : r.blockHashes()) {
                                ids.append(ids.length() == 0 ? "" : ", ").append(id);
                            }
                            w.write("{\"timestamp\": " + r.arrivalMs() + ", \"input_length\": " + r.inputTokens()
                                    + ", \"output_length\": " + r.outputTokens() + ", \"hash_ids\": [" + ids + "]}\n");
                        }
                        case AZURE -> w.write(base.plusNanos(r.arrivalMs() * 1_000_000L).format(azureTs) + ","
                                + r.inputTokens() + "," + r.outputTokens() + "\n");
                        case BURSTGPT -> w.write(String.format(Locale.ROOT, "%.3f,ChatGPT,%d,%d,%d,Conversation log%n",
                                r.arrivalMs() / 1000.0, r.inputTokens(), r.outputTokens(), r.inputTokens() + r.outputTokens()));
                        default -> throw new IllegalArgumentException("cannot write format " + format);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Leading blocks whose id was seen before ÷ all blocks: the infinite-cache bound. */
    public static double boundHitRatio(List<TraceRequest> trace) {
        java.util.Set<Long> seen = new java.util.HashSet<>();
        long hits = 0;
        long all = 0;
        for (TraceRequest r : trace) {
            int k = 0;
            while (k < r.blockHashes().size() && seen.contains(r.blockHashes().get(k))) {
                k++;
            }
            hits += k;
            all += r.blockHashes().size();
            seen.addAll(r.blockHashes());
        }
        return all == 0 ? 0 : (double) hits / all;
    }

    /** {@code --lengths}: a preset or components {@code weight:inputMedian:outputMedian} separated by commas. */
    public static List<LengthMix> lengths(String spec) {
        return switch (spec) {
            case "short" -> List.of(new LengthMix(1, 400, 150));
            case "long" -> List.of(new LengthMix(1, 8000, 400));
            case "mixed" -> List.of(new LengthMix(0.8, 400, 150), new LengthMix(0.2, 8000, 400));
            case "bimodal" -> List.of(new LengthMix(0.5, 400, 150), new LengthMix(0.5, 30_000, 600));
            default -> {
                List<LengthMix> out = new ArrayList<>();
                for (String c : spec.split(",")) {
                    String[] p = c.trim().split(":");
                    try {
                        if (p.length != 3) {
                            throw new NumberFormatException();
                        }
                        LengthMix m = new LengthMix(Double.parseDouble(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]));
                        require(m.weight() > 0 && m.inputMedian() > 0 && m.outputMedian() > 0, "");
                        out.add(m);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("--lengths must be short, long, mixed, bimodal or components "
                                + "weight:inputMedian:outputMedian (positive) separated by commas, was '" + spec + "'");
                    }
                }
                yield out;
            }
        };
    }

    private static double gap(Spec s, double t, double spanS, SplittableRandom rnd) {
        double rate = switch (s.arrivals()) {
            case "bursts" -> {
                double inBurst = s.ratePerSecond() * s.burstFactor();
                double share = s.burstSeconds() / s.burstEverySeconds();
                // keep the mean: burst share × burst rate + (1 − share) × base rate = mean rate (base ≥ 5% of the mean)
                double base = Math.max(0.05 * s.ratePerSecond(), (s.ratePerSecond() - share * inBurst) / (1 - share));
                yield (t % s.burstEverySeconds()) < s.burstSeconds() ? inBurst : base;
            }
            case "ramp" -> s.ratePerSecond() * (0.2 + 1.6 * Math.min(1, t / spanS));
            default -> s.ratePerSecond();
        };
        return s.arrivals().equals("uniform") ? 1 / rate : -Math.log(1 - rnd.nextDouble()) / rate;
    }

    private static LengthMix pick(List<LengthMix> mixes, double total, SplittableRandom rnd) {
        double x = rnd.nextDouble() * total;
        for (LengthMix m : mixes) {
            x -= m.weight();
            if (x < 0) {
                return m;
            }
        }
        return mixes.get(mixes.size() - 1);
    }

    private static int logNormal(int median, double sigma, SplittableRandom rnd) {
        double u1 = 1 - rnd.nextDouble();
        double u2 = rnd.nextDouble();
        double z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        return (int) Math.max(1, Math.min(MAX_INPUT_TOKENS, Math.round(median * Math.exp(sigma * z))));
    }

    private static int blocks(int tokens) {
        return (tokens + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
