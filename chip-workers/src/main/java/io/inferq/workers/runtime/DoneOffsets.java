package io.inferq.workers.runtime;

import java.util.NavigableSet;
import java.util.TreeSet;

/**
 * The codec of the batches a worker slot has finished <em>above</em> a partition's committed offset, carried in the
 * committed offset's metadata ({@code OffsetAndMetadata.metadata()}), so that they commit atomically with the results
 * of the batch whose transaction writes them.
 *
 * <p><b>Encoding.</b> The committed offset {@code W} is the partition's low watermark: every offset below it is done,
 * {@code W} itself is not. The metadata names the done offsets above {@code W}: empty when there are none (what a
 * plain {@code OffsetAndMetadata(W)} carries, so offsets committed before this codec read as "nothing done above"),
 * else {@value #PREFIX} followed by comma-separated items, walking up from {@code W}: an item {@code g} is the offset
 * {@code g} above the previous one (the first is relative to {@code W}), an item {@code g*n} is that offset and the
 * {@code n − 1} offsets right after it. Example: {@code W = 100}, done {@code {102, 103, 104, 110}} →
 * {@code "d1:2*3,6"}. The encoding of a set is unique, so two commits of the same progress have equal metadata.
 *
 * <p><b>Bound.</b> Kafka refuses metadata longer than the broker's {@code offset.metadata.max.bytes} (default 4096).
 * A slot keeps its metadata within {@link #MAX_BYTES}, a quarter of that: it starts a batch only while
 * {@link #worstCaseBytes} of everything it may have to name (done and in-flight offsets above the watermark) stays
 * within it (see {@link PartitionProgress#canStart}). Stateless and thread-safe.
 */
final class DoneOffsets {
    static final String PREFIX = "d1:";
    /** The longest metadata a slot writes, in bytes (ASCII). */
    static final int MAX_BYTES = 1024;

    private DoneOffsets() {
    }

    /**
     * @param watermark the committed offset (not done itself)
     * @param done      done offsets, each above {@code watermark}
     * @return the metadata naming {@code done}, relative to {@code watermark}
     * @throws IllegalArgumentException if an offset of {@code done} is not above {@code watermark}
     */
    static String encode(long watermark, NavigableSet<Long> done) {
        if (done.isEmpty()) {
            return "";
        }
        if (done.first() <= watermark) {
            throw new IllegalArgumentException("done offset " + done.first() + " is not above the watermark " + watermark);
        }
        StringBuilder sb = new StringBuilder(PREFIX);
        long previous = watermark;
        long runStart = -1;
        int run = 0;
        for (long o : done) {
            if (run > 0 && o == runStart + run) {
                run++;
                continue;
            }
            if (run > 0) {
                item(sb, runStart - previous, run);
                previous = runStart + run - 1;
            }
            runStart = o;
            run = 1;
        }
        item(sb, runStart - previous, run);
        return sb.toString();
    }

    private static void item(StringBuilder sb, long gap, int run) {
        if (sb.length() > PREFIX.length()) {
            sb.append(',');
        }
        sb.append(gap);
        if (run > 1) {
            sb.append('*').append(run);
        }
    }

    /**
     * @return the done offsets {@code metadata} names above {@code watermark}; empty for empty or null metadata
     * @throws IllegalArgumentException if {@code metadata} is not this codec's (another tool committed it)
     */
    static TreeSet<Long> decode(long watermark, String metadata) {
        TreeSet<Long> done = new TreeSet<>();
        if (metadata == null || metadata.isEmpty()) {
            return done;
        }
        if (!metadata.startsWith(PREFIX) || metadata.length() == PREFIX.length()) {
            throw new IllegalArgumentException("not a done-offsets metadata: '" + metadata + "'");
        }
        long previous = watermark;
        try {
            for (String item : metadata.substring(PREFIX.length()).split(",", -1)) {
                int star = item.indexOf('*');
                long gap = Long.parseLong(star < 0 ? item : item.substring(0, star));
                long run = star < 0 ? 1 : Long.parseLong(item.substring(star + 1));
                if (gap < 1 || run < 1 || run > MAX_BYTES) {
                    throw new IllegalArgumentException("bad item '" + item + "' in done-offsets metadata '" + metadata + "'");
                }
                long first = Math.addExact(previous, gap);
                for (long k = 0; k < run; k++) {
                    done.add(first + k);
                }
                previous = first + run - 1;
            }
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("bad done-offsets metadata '" + metadata + "'", e);
        }
        return done;
    }

    /**
     * The most bytes the metadata of {@code count} offsets, none more than {@code span} above the watermark, can take
     * (runs not counted: every gap written out, each at most {@code span}).
     */
    static long worstCaseBytes(int count, long span) {
        if (count == 0) {
            return 0;
        }
        return PREFIX.length() + (long) count * (Long.toString(Math.max(1, span)).length() + 1) - 1;
    }
}
