package io.inferq.kvcache.resp;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Bytes of values in flight across all connections (arguments being received or stored, replies not yet
 * written). A connection that cannot reserve waits (it stops reading its socket) and is woken when bytes are
 * released; replies reserve unconditionally, so a reply already read from the store is never dropped.
 *
 * <p>Thread-safe; waiters are run on the releasing thread and must hop to their own context themselves.
 */
final class InflightBudget {

    private final long max;
    private long used;                                       // guarded by this
    private final ArrayDeque<Runnable> waiters = new ArrayDeque<>();   // guarded by this; one per waiting connection

    InflightBudget(long max) {
        this.max = max;
    }

    /**
     * Reserves {@code n} bytes, or (when they do not fit) registers {@code waiter} to be run once bytes are
     * released. A request larger than the whole budget fits when nothing else is reserved.
     */
    synchronized boolean reserveOrAwait(long n, Runnable waiter) {
        if (used == 0 || used + n <= max) {
            used += n;
            return true;
        }
        waiters.add(waiter);
        return false;
    }

    synchronized void force(long n) {
        used += n;
    }

    void release(long n) {
        if (n == 0) {
            return;
        }
        List<Runnable> wake;
        synchronized (this) {
            used -= n;
            wake = new ArrayList<>(waiters);
            waiters.clear();
        }
        wake.forEach(Runnable::run);
    }

    synchronized long used() {
        return used;
    }
}
