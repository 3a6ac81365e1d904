package io.inferq.ingress.console;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.JobStatus;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The console's throughput and latency history: jobs per second in (queued) and out (terminal), and queue-wait and
 * end-to-end p50/p99 per interval, kept in a ring of {@link #capacity} samples (10 minutes at 2 s).
 *
 * <p>Fed with every job event this process's view applies ({@link #onJobEvent}, any thread); {@link #sample} closes an
 * interval (one timer). Latencies of an interval are kept in a reservoir of at most {@value #RESERVOIR} values
 * (uniform reservoir sampling beyond it), so memory and the per-sample sort are bounded whatever the rate.
 * Waits and end-to-end times are those of jobs that ran (succeeded or failed), measured from the job's state times.
 * Thread-safe (short synchronized sections).
 */
final class ThroughputRecorder {
    static final int RESERVOIR = 1024;
    private final int capacity;
    private final Sample[] ring;
    private int next;
    private int size;
    private long in;
    private long out;
    private long totalIn;
    private long totalOut;
    private final long[] waits = new long[RESERVOIR];
    private final long[] e2e = new long[RESERVOIR];
    private int latencies;
    private long latencySeen;
    private long intervalStartMs;

    /**
     * One interval.
     *
     * @param atMs       end of the interval
     * @param inPerSec   jobs queued per second
     * @param outPerSec  jobs finished per second
     * @param waitP50Ms  queue wait (queued → dispatched) p50 of jobs that finished, -1 when none
     * @param extra      gauges read at the end (queue depth per lane, utilisation per pool)
     */
    public record Sample(long atMs, double inPerSec, double outPerSec, long waitP50Ms, long waitP99Ms, long e2eP50Ms,
            long e2eP99Ms, Map<String, Double> extra) {
    }

    public ThroughputRecorder(int capacity, long startMs) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1, was " + capacity);
        }
        this.capacity = capacity;
        this.ring = new Sample[capacity];
        this.intervalStartMs = startMs;
    }

    /** Counts a job event: a queued one as in, a terminal one as out (with its latencies when it ran). Any thread. */
    public void onJobEvent(JobEvent e) {
        JobStatus s = JobStatus.fromWire(e.getStatus());
        if (s == JobStatus.QUEUED) {
            synchronized (this) {
                in++;
                totalIn++;
            }
            return;
        }
        if (!s.isTerminal()) {
            return;
        }
        Map<String, Long> t = e.getStateTimes();
        Long queued = t.get("queued");
        Long dispatched = t.get("dispatched");
        boolean ran = (s == JobStatus.SUCCEEDED || s == JobStatus.FAILED) && queued != null && dispatched != null;
        synchronized (this) {
            out++;
            totalOut++;
            if (ran) {
                long w = Math.max(0, dispatched - queued);
                long end = Math.max(0, e.getAtMs() - queued);
                latencySeen++;
                int slot = latencies < RESERVOIR ? latencies++ : (int) ThreadLocalRandom.current().nextLong(latencySeen);
                if (slot < RESERVOIR) {
                    waits[slot] = w;
                    e2e[slot] = end;
                }
            }
        }
    }

    /** Closes the current interval at {@code nowMs} and starts the next. */
    public Sample sample(long nowMs, Map<String, Double> extra) {
        long[] w;
        long[] x;
        long i;
        long o;
        long start;
        synchronized (this) {
            w = Arrays.copyOf(waits, latencies);
            x = Arrays.copyOf(e2e, latencies);
            i = in;
            o = out;
            start = intervalStartMs;
            in = 0;
            out = 0;
            latencies = 0;
            latencySeen = 0;
            intervalStartMs = nowMs;
        }
        double secs = Math.max(0.001, (nowMs - start) / 1000.0);
        Arrays.sort(w);
        Arrays.sort(x);
        Sample s = new Sample(nowMs, i / secs, o / secs, pct(w, 0.5), pct(w, 0.99), pct(x, 0.5), pct(x, 0.99),
                Map.copyOf(extra));
        synchronized (this) {
            ring[next] = s;
            next = (next + 1) % capacity;
            size = Math.min(capacity, size + 1);
        }
        return s;
    }

    private static long pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return -1;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    /** @return the samples after {@code sinceMs}, oldest first */
    public synchronized List<Sample> since(long sinceMs) {
        List<Sample> outList = new ArrayList<>(size);
        for (int k = 0; k < size; k++) {
            Sample s = ring[(next - size + k + capacity) % capacity];
            if (s.atMs() > sinceMs) {
                outList.add(s);
            }
        }
        return outList;
    }

    /** @return jobs counted in and out since start */
    public synchronized long[] totals() {
        return new long[] {totalIn, totalOut};
    }

    public int capacity() {
        return capacity;
    }
}
