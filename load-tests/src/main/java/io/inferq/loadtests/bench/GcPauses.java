package io.inferq.loadtests.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * A control for latency benchmarks that run the server in their own JVM: the stop-the-world collections of this process,
 * as wall-clock intervals, so a phase can say how many of its jobs' measured spans a pause overlapped and what its
 * latencies are without them. Every thread of the process stops in such a pause — the broker, the Hazelcast member, the
 * dispatcher and the workers alike — so a job that meets one waits for it whatever its lane.
 *
 * <p>Only collectors whose collections are pauses are recorded (G1's young and old generations, Parallel, Serial, ZGC's
 * and Shenandoah's pause beans); the beans of concurrent cycles ("Concurrent", "Cycles") are not: their threads run beside
 * the application's.
 *
 * <p>Threading: the JVM calls the listener on its notification thread; the pause list is guarded by {@code this}.
 * {@link #close} removes the listeners.
 */
final class GcPauses implements AutoCloseable {
    /** One pause, epoch milliseconds. */
    record Pause(long startMs, long endMs) {
        boolean overlaps(long fromMs, long toMs) {
            return startMs <= toMs && endMs >= fromMs;
        }
    }

    private final List<Pause> pauses = new ArrayList<>();
    private final List<NotificationEmitter> emitters = new ArrayList<>();
    private final long jvmStartMs = ManagementFactory.getRuntimeMXBean().getStartTime();
    private final NotificationListener listener = this::onNotification;

    GcPauses() {
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (isPause(gc.getName()) && gc instanceof NotificationEmitter emitter) {
                emitter.addNotificationListener(listener, null, null);
                emitters.add(emitter);
            }
        }
    }

    static boolean isPause(String collectorName) {
        return !collectorName.contains("Concurrent") && !collectorName.contains("Cycles");
    }

    private void onNotification(Notification n, Object handback) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
        long start = jvmStartMs + info.getGcInfo().getStartTime();
        synchronized (this) {
            pauses.add(new Pause(start, start + info.getGcInfo().getDuration()));
        }
    }

    /** The pauses that overlap {@code [fromMs, toMs]}, epoch ms. */
    synchronized List<Pause> between(long fromMs, long toMs) {
        return pauses.stream().filter(p -> p.overlaps(fromMs, toMs)).toList();
    }

    /** Whether a pause overlapped {@code [fromMs, toMs]}, epoch ms. */
    synchronized boolean metPause(long fromMs, long toMs) {
        return pauses.stream().anyMatch(p -> p.overlaps(fromMs, toMs));
    }

    /** "N pauses, T ms in all (S% of the window), longest L ms" for a window. */
    String describe(long fromMs, long toMs) {
        List<Pause> in = between(fromMs, toMs);
        long total = in.stream().mapToLong(p -> p.endMs() - p.startMs()).sum();
        long longest = in.stream().mapToLong(p -> p.endMs() - p.startMs()).max().orElse(0);
        return String.format(Locale.ROOT, "%d pauses, %d ms in all (%.1f%% of the window), longest %d ms", in.size(), total,
                100.0 * total / Math.max(1, toMs - fromMs), longest);
    }

    @Override
    public void close() {
        for (NotificationEmitter e : emitters) {
            try {
                e.removeNotificationListener(listener);
            } catch (ListenerNotFoundException ignored) {
                // already gone
            }
        }
    }
}
