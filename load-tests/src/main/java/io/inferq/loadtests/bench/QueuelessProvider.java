package io.inferq.loadtests.bench;

import io.inferq.loadtests.replay.JobOutcome;
import io.inferq.loadtests.replay.Target;
import io.inferq.loadtests.replay.Tracker;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleBiFunction;

/**
 * The queue-less baseline of the burst benchmark: an in-process "provider" as LLM APIs behaved before job
 * queues — {@code slots} requests run at once, a request arriving when all are busy is answered
 * {@code 503 server busy} immediately. A request holds its slot for {@code serviceSeconds(promptTokens,
 * outputTokens)} ÷ time-scale of wall time, chosen by the caller so that the provider's saturated throughput
 * equals the inferq fleet's capacity. Thread-safe; one scheduler thread.
 */
final class QueuelessProvider implements Target, Tracker {
    private record Running(long acceptedNanos, long acceptedMs, double seconds) {
    }

    private final Semaphore slots;
    private final double timeScale;
    private final ToDoubleBiFunction<Integer, Integer> serviceSeconds;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "provider");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Running> running = new ConcurrentHashMap<>();
    private final AtomicLong finished = new AtomicLong();
    private final Map<String, int[]> shapes = new ConcurrentHashMap<>();

    QueuelessProvider(int slots, double timeScale, ToDoubleBiFunction<Integer, Integer> serviceSeconds) {
        this.slots = new Semaphore(slots);
        this.timeScale = timeScale;
        this.serviceSeconds = serviceSeconds;
    }

    @Override
    public CompletableFuture<Answer> submit(String model, String prompt, int maxTokens) {
        if (!slots.tryAcquire()) {
            return CompletableFuture.completedFuture(new Answer(503, null, "server_busy"));
        }
        String id = "prov_" + UUID.randomUUID();
        int promptTokens = prompt.length() / 5; // PromptText: ~5 characters per token-word
        double s = serviceSeconds.applyAsDouble(promptTokens, maxTokens);
        running.put(id, new Running(System.nanoTime(), System.currentTimeMillis(), s));
        shapes.put(id, new int[] {promptTokens, maxTokens});
        timer.schedule((Runnable) slots::release, (long) (s / timeScale * 1e9), TimeUnit.NANOSECONDS);
        return CompletableFuture.completedFuture(new Answer(202, id, null));
    }

    @Override
    public void expect(JobOutcome o) {
        Running r = running.remove(o.jobId);
        shapes.remove(o.jobId);
        long wallNanos = (long) (r.seconds() / timeScale * 1e9);
        timer.schedule(() -> {
            o.submittedAtMs = r.acceptedMs();
            o.firstTokenAtMs = r.acceptedMs() + 1;
            o.finishedAtMs = r.acceptedMs() + wallNanos / 1_000_000;
            o.seenNanos = r.acceptedNanos() + wallNanos;
            o.status = "succeeded";
            finished.incrementAndGet();
        }, wallNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public long finished() {
        return finished.get();
    }

    @Override
    public String kind() {
        return "queue-less provider";
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
