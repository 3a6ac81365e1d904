package io.inferq.ingress.tenants;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The submit path's view of how many jobs each tenant has not yet finished, without a blocking read per request:
 * the shared count (read elsewhere, off the event loop) at most {@code refreshMs} old, plus the jobs this process
 * accepted since that read.
 *
 * <p><b>Precision.</b> The shared count is the materialised job view's, which trails accepted jobs by the view's
 * lag; so, as with a read per request, a burst can pass a tenant's limit by the jobs accepted but not yet
 * materialised (across processes, also by other processes' accepts of the last {@code refreshMs}). The limit is a
 * back-pressure bound, not an exact quota.
 *
 * <p><b>Threading.</b> Thread-safe; nothing here blocks.
 */
public final class ActiveJobEstimate {
    private final LongSupplier clockMs;
    private final long refreshMs;
    private final long maxAgeMs;
    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();

    private static final class Entry {
        volatile long count;
        volatile long readAtMs = Long.MIN_VALUE;
        final AtomicLong acceptedSinceRead = new AtomicLong();
        final AtomicBoolean refreshing = new AtomicBoolean();
    }

    /**
     * @param clockMs   milliseconds now
     * @param refreshMs a read older than this asks for a refresh ({@link #claimRefresh})
     * @param maxAgeMs  a read older than this is not used at all ({@link #estimate} answers -1)
     */
    public ActiveJobEstimate(LongSupplier clockMs, long refreshMs, long maxAgeMs) {
        if (refreshMs < 1 || maxAgeMs < refreshMs) {
            throw new IllegalArgumentException("need 1 <= refreshMs <= maxAgeMs, was " + refreshMs + ", " + maxAgeMs);
        }
        this.clockMs = clockMs;
        this.refreshMs = refreshMs;
        this.maxAgeMs = maxAgeMs;
    }

    /** @return the tenant's estimated unfinished jobs, or -1 when there is no read younger than {@code maxAgeMs} */
    public long estimate(String tenant) {
        Entry e = entries.get(tenant);
        if (e == null || e.readAtMs == Long.MIN_VALUE || clockMs.getAsLong() - e.readAtMs > maxAgeMs) {
            return -1;
        }
        return e.count + e.acceptedSinceRead.get();
    }

    /**
     * @return true if the caller should read the shared count now and pass it to {@link #refreshed} (or call
     *         {@link #refreshFailed}); at most one caller per tenant gets true until then
     */
    public boolean claimRefresh(String tenant) {
        Entry e = entries.computeIfAbsent(tenant, t -> new Entry());
        long read = e.readAtMs;
        boolean due = read == Long.MIN_VALUE || clockMs.getAsLong() - read >= refreshMs;
        return due && e.refreshing.compareAndSet(false, true);
    }

    /** Records a read of the shared count taken at {@code readAtMs} (the clock before the read). */
    public void refreshed(String tenant, long count, long readAtMs) {
        Entry e = entries.computeIfAbsent(tenant, t -> new Entry());
        synchronized (e) {
            if (readAtMs >= e.readAtMs || e.readAtMs == Long.MIN_VALUE) {
                e.count = count;
                e.acceptedSinceRead.set(0);
                e.readAtMs = readAtMs;
            }
        }
        e.refreshing.set(false);
    }

    /** Ends a claimed refresh that could not read; the next submit may try again. */
    public void refreshFailed(String tenant) {
        Entry e = entries.get(tenant);
        if (e != null) {
            e.refreshing.set(false);
        }
    }

    /** Counts a job this process accepted (its request and queued event are durable). */
    public void accepted(String tenant) {
        entries.computeIfAbsent(tenant, t -> new Entry()).acceptedSinceRead.incrementAndGet();
    }
}
