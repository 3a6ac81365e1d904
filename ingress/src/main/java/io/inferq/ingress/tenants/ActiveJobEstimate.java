package io.inferq.ingress.tenants;

import java.time.Clock;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The submit path's view of how many jobs each tenant has not yet finished, without a blocking read per request:
 * the shared count (read elsewhere, off the event loop) at most {@code refreshMs} old, plus the jobs this process
 * accepted that the read cannot have counted.
 *
 * <p><b>Precision.</b> A job this process accepted is counted on top of a read until that read started after this
 * process's job view had applied the job's {@code queued} event ({@link #applied}): only then is it in the shared
 * count. "Before" and "after" are decided by one sequence shared by {@link #readStart} and {@link #applied}, not by
 * the clock: an apply and a read in the same millisecond are still ordered, so a job is counted neither short nor
 * twice. A read that started while the view was writing a job ({@link #applying} called, {@link #applied} not yet)
 * may or may not hold it: it is counted on top (never short), and the estimate is {@link #uncertain} until a read
 * that started after the apply replaces it — a caller about to refuse on an uncertain estimate reads again. So this
 * process never counts its own accepted jobs short, whatever the view's lag. Other processes' accepts
 * reach the estimate with the next read (at most {@code refreshMs} later, plus their views' lag): across processes a
 * burst can pass a tenant's limit by that much. The limit is a back-pressure bound, not an exact quota.
 *
 * <p><b>Bounded.</b> A job accepted here whose event this process never sees applied is dropped from the estimate
 * {@value #FORGET_AFTER_MS} ms after it was accepted.
 *
 * <p><b>Threading.</b> Thread-safe; nothing here blocks.
 */
public final class ActiveJobEstimate {
    /** An accepted job not seen applied is no longer counted on top of reads after this long. */
    public static final long FORGET_AFTER_MS = 60_000;
    private static final long NOT_YET = Long.MAX_VALUE;

    private final Clock clock;
    private final long refreshMs;
    private final long maxAgeMs;
    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
    /** Orders read starts and applies: a read counts exactly the applies with a smaller number. */
    private final AtomicLong sequence = new AtomicLong();

    /**
     * The moment a read of the shared count starts: take it just before the read.
     *
     * @param atMs the clock then (for the read's age)
     * @param seq  its place among read starts and applies
     */
    public record ReadStart(long atMs, long seq) {
    }

    /**
     * A job accepted here: when, and the sequence numbers at which this process's view started writing it and had
     * written it ({@link #NOT_YET} until then).
     */
    private record Accept(long acceptedAtMs, long applyingSeq, long appliedSeq) {
    }

    private static final class Entry {
        volatile long count;
        volatile long readAtMs = Long.MIN_VALUE;
        long readSeq = Long.MIN_VALUE;
        /** The last read may hold some of {@link #uncounted} already (it overlapped their writes to the view). */
        volatile boolean uncertain;
        final ConcurrentHashMap<String, Accept> uncounted = new ConcurrentHashMap<>();
        final AtomicBoolean refreshing = new AtomicBoolean();
    }

    /**
     * @param clock     the time source
     * @param refreshMs a read older than this asks for a refresh ({@link #claimRefresh})
     * @param maxAgeMs  a read older than this is not used at all ({@link #estimate} answers -1)
     */
    public ActiveJobEstimate(Clock clock, long refreshMs, long maxAgeMs) {
        if (refreshMs < 1 || maxAgeMs < refreshMs) {
            throw new IllegalArgumentException("need 1 <= refreshMs <= maxAgeMs, was " + refreshMs + ", " + maxAgeMs);
        }
        this.clock = clock;
        this.refreshMs = refreshMs;
        this.maxAgeMs = maxAgeMs;
    }

    /** @return the tenant's estimated unfinished jobs, or -1 when there is no read younger than {@code maxAgeMs} */
    public long estimate(String tenant) {
        Entry e = entries.get(tenant);
        if (e == null || e.readAtMs == Long.MIN_VALUE || clock.millis() - e.readAtMs > maxAgeMs) {
            return -1;
        }
        return e.count + e.uncounted.size();
    }

    /**
     * @return true if the caller should read the shared count now and pass it to {@link #refreshed} (or call
     *         {@link #refreshFailed}); at most one caller per tenant gets true until then
     */
    public boolean claimRefresh(String tenant) {
        Entry e = entries.computeIfAbsent(tenant, t -> new Entry());
        long read = e.readAtMs;
        boolean due = read == Long.MIN_VALUE || e.uncertain || clock.millis() - read >= refreshMs;
        return due && e.refreshing.compareAndSet(false, true);
    }

    /** @return the start of a read of the shared count; take it just before the read and pass it to {@link #refreshed} */
    public ReadStart readStart() {
        long atMs = clock.millis();
        return new ReadStart(atMs, sequence.incrementAndGet());
    }

    /**
     * Records a read of the shared count that started at {@code start}: the jobs accepted here whose events the view
     * had applied before it are in it from now on. A read that started before the last recorded one is ignored.
     */
    public void refreshed(String tenant, long count, ReadStart start) {
        Entry e = entries.computeIfAbsent(tenant, t -> new Entry());
        synchronized (e) {
            if (start.seq() > e.readSeq) {
                e.count = count;
                e.readSeq = start.seq();
                e.readAtMs = start.atMs();
                e.uncounted.values().removeIf(a -> a.appliedSeq() < start.seq() || a.acceptedAtMs() < start.atMs() - FORGET_AFTER_MS);
                e.uncertain = e.uncounted.values().stream().anyMatch(a -> a.applyingSeq() < start.seq());
            }
        }
        e.refreshing.set(false);
    }

    /**
     * @return true when the tenant's last read overlapped this process's view writing jobs accepted here, so the
     *         estimate may count those twice (it is never short): read again before refusing on it
     */
    public boolean uncertain(String tenant) {
        Entry e = entries.get(tenant);
        return e != null && e.uncertain;
    }

    /** Ends a claimed refresh that could not read; the next submit may try again. */
    public void refreshFailed(String tenant) {
        Entry e = entries.get(tenant);
        if (e != null) {
            e.refreshing.set(false);
        }
    }

    /**
     * Counts a job this process is accepting: call before its records are written (so a burst cannot pass the limit
     * while writes are in flight, and the view cannot apply the job before it is counted here); {@link #withdrawn} if
     * the write fails.
     */
    public void accepted(String tenant, String jobId) {
        entries.computeIfAbsent(tenant, t -> new Entry()).uncounted.putIfAbsent(jobId, new Accept(clock.millis(), NOT_YET, NOT_YET));
    }

    /** A job counted by {@link #accepted} whose write failed: it is not queued after all. */
    public void withdrawn(String tenant, String jobId) {
        Entry e = entries.get(tenant);
        if (e != null) {
            e.uncounted.remove(jobId);
        }
    }

    /**
     * This process's job view is about to write the job's {@code queued} event (call just before the write): a read
     * that starts from now on, until {@link #applied}, may or may not count it. Jobs accepted elsewhere are ignored.
     */
    public void applying(String tenant, String jobId) {
        Entry e = entries.get(tenant);
        if (e != null) {
            e.uncounted.computeIfPresent(jobId, (k, a) -> a.applyingSeq() == NOT_YET
                    ? new Accept(a.acceptedAtMs(), sequence.incrementAndGet(), a.appliedSeq()) : a);
        }
    }

    /**
     * This process's job view has applied the job's {@code queued} event (call after the write, whether or not this
     * process's write was the one that changed the view): a read that starts from now on counts it. Jobs accepted
     * elsewhere are ignored.
     */
    public void applied(String tenant, String jobId) {
        Entry e = entries.get(tenant);
        if (e != null) {
            e.uncounted.computeIfPresent(jobId, (k, a) -> a.appliedSeq() == NOT_YET
                    ? applied(a, sequence.incrementAndGet()) : a);
        }
    }

    /** {@code a} applied at {@code seq}; without a known start of the write, the write is taken to start then. */
    private static Accept applied(Accept a, long seq) {
        return new Accept(a.acceptedAtMs(), a.applyingSeq() == NOT_YET ? seq : a.applyingSeq(), seq);
    }
}
