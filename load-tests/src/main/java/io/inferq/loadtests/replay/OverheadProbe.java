package io.inferq.loadtests.replay;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Measures what the pipeline itself adds to a job while a replay runs: every {@code everyMs} it submits one tiny job
 * (a few words, one output token) for a model that only a pool of its own serves, with a backend that takes no time
 * (a simulated pool at a huge time-scale), waits for its result, and records the wall times. The probe never queues
 * behind the replay's jobs (another model, another pool), so what it measures is the pipeline under the same CPU
 * contention: HTTP submit, Kafka, the dispatcher's intake and decision, the pool topic, the worker, the result
 * transaction and the client's follower. One probe is in flight at a time; one thread of its own.
 */
public final class OverheadProbe implements AutoCloseable {

    /**
     * One probe, wall milliseconds.
     *
     * @param e2eMs         client send → result seen by the client
     * @param toFirstTokenMs server {@code queued_at} → {@code first_token_at}: the part of a job's TTFT that is pipeline
     * @param toRunningMs   server {@code queued_at} → {@code running_at} (a worker started the batch)
     */
    public record Sample(double e2eMs, double toFirstTokenMs, double toRunningMs) {
    }

    private final Target target;
    private final ResultFollower follower;
    private final String model;
    private final long everyMs;
    private final List<Sample> samples = new ArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile int lost;

    /**
     * @param url       the server's base URL
     * @param bootstrap its Kafka (results are followed on {@code inferq.results})
     * @param model     a model served only by the probe's own pool
     */
    public OverheadProbe(String url, String bootstrap, String model, long everyMs) {
        this.target = new HttpTarget(url, null);
        this.follower = new ResultFollower(bootstrap);
        this.model = model;
        this.everyMs = everyMs;
        this.thread = new Thread(this::loop, "load-probe");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        String prompt = PromptText.build(8, List.of(), 7, 7);
        long next = System.nanoTime();
        try {
            while (running) {
                long now = System.nanoTime();
                if (now < next) {
                    TimeUnit.NANOSECONDS.sleep(next - now);
                }
                next = System.nanoTime() + everyMs * 1_000_000L;
                JobOutcome o = new JobOutcome(null, 8, 1);
                o.sentNanos = System.nanoTime();
                Target.Answer a;
                try {
                    a = target.submit(model, prompt, 1).get(30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    lost++;
                    continue;
                }
                if (a.status() != 202 || a.jobId() == null) {
                    lost++;
                    continue;
                }
                o.jobId = a.jobId();
                follower.expect(o);
                long giveUp = System.nanoTime() + 30_000_000_000L;
                while (!o.finished() && running && System.nanoTime() < giveUp) {
                    TimeUnit.MILLISECONDS.sleep(2);
                }
                if (!o.finished()) {
                    lost++;
                    continue;
                }
                Sample s = new Sample((o.seenNanos - o.sentNanos) / 1e6,
                        o.firstTokenAtMs > 0 ? o.firstTokenAtMs - o.submittedAtMs : Double.NaN,
                        o.startedAtMs > 0 ? o.startedAtMs - o.submittedAtMs : Double.NaN);
                synchronized (samples) {
                    samples.add(s);
                }
            }
        } catch (InterruptedException e) {
            // closing
        }
    }

    /** The probes measured so far. */
    public List<Sample> samples() {
        synchronized (samples) {
            return List.copyOf(samples);
        }
    }

    /** Probes refused or not finished within 30 s. */
    public int lost() {
        return lost;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        follower.close();
        target.close();
    }
}
