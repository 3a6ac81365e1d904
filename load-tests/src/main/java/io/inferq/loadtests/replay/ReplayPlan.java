package io.inferq.loadtests.replay;

import io.inferq.loadtests.policy.TraceRequest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What a replay sends and when, in trace time: a window of the trace, its load scaled by overlaying
 * shifted copies, limited in count. Immutable.
 *
 * <p><b>Load.</b> {@code load} = L overlays ⌊L⌋ whole copies plus exactly round((L−⌊L⌋) × n) of the n requests
 * of one more (chosen by a seeded shuffle); copy k is shifted by k × span ÷ ⌈L⌉ and wrapped around the window, so the
 * mean rate becomes L × the trace's while its burst structure, sizes and (per copy) prefix sharing stay. Each
 * copy salts its block ids so copies do not hit each other's prefixes. L &lt; 1 keeps a sampled fraction.
 *
 * @param items sorted by {@link Item#atMs()}
 * @param spanMs the window's length in trace ms
 */
public record ReplayPlan(List<Item> items, long spanMs) {

    /** One request to send: {@code atMs} trace ms after the window start. */
    public record Item(int seq, long atMs, int copy, int traceIndex, TraceRequest request) {
    }

    public ReplayPlan {
        items = List.copyOf(items);
    }

    /**
     * @param trace       the whole trace, arrivals relative to its start
     * @param fromMs      window start (trace ms)
     * @param windowMs    window length (trace ms); {@code Long.MAX_VALUE} = to the end
     * @param load        load factor, positive
     * @param maxRequests at most this many items (the earliest)
     * @param seed        for the fractional copy
     */
    public static ReplayPlan of(List<TraceRequest> trace, long fromMs, long windowMs, double load, int maxRequests, long seed) {
        if (!(load > 0)) {
            throw new IllegalArgumentException("load must be positive, was " + load);
        }
        List<int[]> window = new ArrayList<>();
        long end = windowMs == Long.MAX_VALUE ? Long.MAX_VALUE : fromMs + windowMs;
        long last = fromMs;
        for (int i = 0; i < trace.size(); i++) {
            long t = trace.get(i).arrivalMs();
            if (t >= fromMs && t < end) {
                window.add(new int[] {i});
                last = Math.max(last, t);
            }
        }
        long span = Math.max(1, (end == Long.MAX_VALUE ? last + 1 : end) - fromMs);
        int copies = (int) Math.ceil(load);
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Item> items = new ArrayList<>();
        for (int c = 0; c < copies; c++) {
            double keep = Math.min(1.0, load - c);
            long shift = c * span / copies;
            // a partial copy keeps exactly round(keep × n) requests, chosen by a seeded shuffle
            java.util.Set<Integer> kept = null;
            if (keep < 1.0) {
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < window.size(); i++) {
                    order.add(i);
                }
                for (int i = order.size() - 1; i > 0; i--) {
                    java.util.Collections.swap(order, i, rnd.nextInt(i + 1));
                }
                kept = new java.util.HashSet<>(order.subList(0, (int) Math.round(keep * order.size())));
            }
            for (int wi = 0; wi < window.size(); wi++) {
                if (kept != null && !kept.contains(wi)) {
                    continue;
                }
                int[] w = window.get(wi);
                TraceRequest r = trace.get(w[0]);
                long at = (r.arrivalMs() - fromMs + shift) % span;
                items.add(new Item(0, at, c, w[0], r));
            }
        }
        items.sort(Comparator.comparingLong(Item::atMs).thenComparingInt(Item::copy).thenComparingInt(Item::traceIndex));
        List<Item> out = new ArrayList<>(Math.min(items.size(), maxRequests));
        for (int i = 0; i < items.size() && i < maxRequests; i++) {
            Item it = items.get(i);
            out.add(new Item(i, it.atMs(), it.copy(), it.traceIndex(), it.request()));
        }
        long planSpan = out.size() < items.size() && !out.isEmpty() ? out.get(out.size() - 1).atMs() + 1 : span;
        return new ReplayPlan(out, planSpan);
    }

    /** The window's busiest {@code windowMs}-long stretch: its start, by arrival count. */
    public static long busiestWindowStart(List<TraceRequest> trace, long windowMs) {
        long bestStart = 0;
        int best = 0;
        int j = 0;
        for (int i = 0; i < trace.size(); i++) {
            while (trace.get(i).arrivalMs() - trace.get(j).arrivalMs() >= windowMs) {
                j++;
            }
            if (i - j + 1 > best) {
                best = i - j + 1;
                bestStart = trace.get(j).arrivalMs();
            }
        }
        return bestStart;
    }
}
