package io.inferq.loadtests.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A control for latency benchmarks on a shared host: how much of a slowdown is the host's CPU alone. A
 * {@link Sampler} records this process's CPU time over wall time, so a phase's CPU rate (cores in use) can be read
 * afterwards for any interval; a {@link Burn} then keeps that many extra cores busy with plain arithmetic, on threads
 * of normal priority, while the same measurement runs again without the work that used them. If the slowdown under
 * the burn matches the slowdown under the work, the work's scheduling is not what slowed the measured path: the
 * host's cores are.
 *
 * <p>Threading: each {@code Sampler} and {@code Burn} runs its own daemon threads until {@link AutoCloseable#close}.
 */
final class CpuControl {
    private CpuControl() {
    }

    /** Samples the process's CPU time every {@value #SAMPLE_MS} ms until closed. */
    static final class Sampler implements AutoCloseable {
        static final long SAMPLE_MS = 100;
        private final List<long[]> samples = new ArrayList<>(); // {wall ms, process CPU ns}, guarded by this
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        Sampler() {
            record();
            thread = new Thread(() -> {
                while (running.get()) {
                    try {
                        Thread.sleep(SAMPLE_MS);
                    } catch (InterruptedException e) {
                        return;
                    }
                    record();
                }
            }, "cpu-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        private synchronized void record() {
            samples.add(new long[] {System.currentTimeMillis(), PipelineOverheadBenchmark.processCpuNanos()});
        }

        /**
         * Mean cores this process used between two wall-clock instants (epoch ms), from the samples nearest inside
         * them; 0 if fewer than two samples fall inside.
         */
        synchronized double coresBetween(long fromMs, long toMs) {
            record();
            long[] first = null;
            long[] last = null;
            for (long[] s : samples) {
                if (s[0] >= fromMs && s[0] <= toMs) {
                    if (first == null) {
                        first = s;
                    }
                    last = s;
                }
            }
            if (first == null || last == first || last[0] == first[0]) {
                return 0;
            }
            return (last[1] - first[1]) / 1e6 / (last[0] - first[0]);
        }

        @Override
        public void close() {
            running.set(false);
            thread.interrupt();
        }
    }

    /**
     * Keeps {@code cores} cores busy (fractional: {@code ceil(cores)} threads, each busy that share of every
     * {@value #PERIOD_MS} ms) until closed.
     */
    static final class Burn implements AutoCloseable {
        static final long PERIOD_MS = 10;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final List<Thread> threads = new ArrayList<>();
        private volatile double sink; // the burners' last value, so their arithmetic is not optimised away

        Burn(double cores) {
            if (!(cores > 0)) {
                return;
            }
            int n = (int) Math.ceil(cores);
            long busyNanos = (long) (cores / n * PERIOD_MS * 1_000_000L);
            for (int i = 0; i < n; i++) {
                Thread t = new Thread(() -> loop(busyNanos), "cpu-burn-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }

        private void loop(long busyNanos) {
            long periodNanos = PERIOD_MS * 1_000_000L;
            double x = 1;
            while (running.get()) {
                long start = System.nanoTime();
                while (System.nanoTime() - start < busyNanos) {
                    x = x * 1.000_000_1 + 1e-9;
                }
                sink = x;
                long rest = periodNanos - (System.nanoTime() - start);
                if (rest > 0) {
                    try {
                        Thread.sleep(rest / 1_000_000L, (int) (rest % 1_000_000L));
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }

        @Override
        public void close() {
            running.set(false);
            threads.forEach(Thread::interrupt);
        }
    }
}
