package io.inferq.workers.runtime;

import java.util.Objects;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;

/**
 * What a worker slot knows of one partition of its pool topic while it owns it: the batches (offsets) it has in
 * flight, the ones finished and committed above the low watermark ({@link DoneOffsets}), where it reads next and what
 * it last committed. It decides the offset and metadata each batch's transaction commits.
 *
 * <p><b>Watermark.</b> The committed offset is the oldest batch still in flight on the partition, or the next offset
 * to read when none is: the group never commits past an unfinished batch, so whoever reads the partition after a crash
 * or a rebalance reads every unfinished batch again. Batches finished above it are named in the metadata and skipped
 * by that reader ({@link #isDone}). Both travel in the transaction of the batch that finishes, with its results.
 *
 * <p>Not thread-safe: the slot thread only.
 */
final class PartitionProgress {
    private final TreeSet<Long> inFlight = new TreeSet<>();
    /**
     * Done offsets this slot still needs: those above the last committed watermark (named in its metadata) and those it
     * has not read past yet (it skips them when it reads them).
     */
    private TreeSet<Long> done;
    /** The next offset to read: the last one started or skipped + 1; -1 until a record is read or a start offset known. */
    private long next;
    /** What this slot last committed for the partition, or read as committed when it took it (null: nothing). */
    private OffsetAndMetadata lastCommitted;
    /** Whether the slot owns the partition; false between a revocation and the decision on its re-assignment. */
    boolean owned = true;
    /** An offset refused by {@link #canStart} (the metadata bound), or -1: the partition waits until it can start it. */
    long blockedAt = -1;

    /**
     * Progress of a partition taken over with {@code committed} as its committed offset (null: none). Metadata that
     * is not {@link DoneOffsets}' is read as nothing done above the offset.
     */
    PartitionProgress(OffsetAndMetadata committed) {
        this.lastCommitted = committed;
        this.next = committed == null ? -1 : committed.offset();
        TreeSet<Long> d;
        try {
            d = committed == null ? new TreeSet<>() : DoneOffsets.decode(committed.offset(), committed.metadata());
        } catch (IllegalArgumentException e) {
            d = new TreeSet<>();
        }
        this.done = d;
    }

    /** Whether the batch at {@code offset} was committed as done (a reader skips it). */
    boolean isDone(long offset) {
        return done.contains(offset);
    }

    boolean isInFlight(long offset) {
        return inFlight.contains(offset);
    }

    /** A done record at {@code offset} was read and skipped. */
    void skipped(long offset) {
        next = Math.max(next, offset + 1);
    }

    /** @return the next offset to read (-1 if unknown) */
    long next() {
        return next;
    }

    int inFlightCount() {
        return inFlight.size();
    }

    /**
     * Whether a batch at {@code offset} may start without the metadata ever outgrowing {@link DoneOffsets#MAX_BYTES}:
     * the done and in-flight offsets above the watermark it would leave, plus this one, counted at their widest.
     */
    boolean canStart(long offset) {
        long w = inFlight.isEmpty() ? offset : Math.min(offset, inFlight.first());
        int count = 1 + inFlight.size();
        long highest = offset;
        for (long d : done.tailSet(w, false)) {
            count++;
            highest = Math.max(highest, d);
        }
        if (!inFlight.isEmpty()) {
            highest = Math.max(highest, inFlight.last());
        }
        return DoneOffsets.worstCaseBytes(count, highest - w) <= DoneOffsets.MAX_BYTES;
    }

    /** The batch at {@code offset} was read and is now in flight. */
    void started(long offset) {
        inFlight.add(offset);
        next = Math.max(next, offset + 1);
    }

    /**
     * @return what the transaction of the finished batch at {@code offset} commits: the watermark without it — the
     *         oldest other batch in flight, else the next offset to read, moved past offsets already done — and the done
     *         offsets above that watermark, it included
     */
    OffsetAndMetadata commitFor(long offset) {
        if (!inFlight.contains(offset)) {
            throw new IllegalStateException("offset " + offset + " is not in flight");
        }
        long w = next;
        for (long o : inFlight) {
            if (o != offset) {
                w = Math.min(w, o);
                break;
            }
        }
        TreeSet<Long> all = new TreeSet<>(done);
        all.add(offset);
        while (all.contains(w)) {
            w++; // done but not read again yet (named by an earlier owner's metadata): below the watermark, it stays done
        }
        return new OffsetAndMetadata(w, DoneOffsets.encode(w, all.tailSet(w, false)));
    }

    /** The transaction of the batch at {@code offset} committed {@code committed} (from {@link #commitFor}). */
    void committed(long offset, OffsetAndMetadata committed) {
        inFlight.remove(offset);
        done.add(offset);
        done = new TreeSet<>(done.tailSet(Math.min(committed.offset(), next), true));
        lastCommitted = committed;
        blockedAt = -1;
    }

    /**
     * Whether the group's committed offset and metadata are still what this slot last committed (or read): nobody else
     * committed on the partition since, so no other slot published any of the batches this one holds. Every commit
     * names a batch not done before (progress only grows), so equal values mean no commit in between.
     */
    boolean unchangedSince(OffsetAndMetadata committedNow) {
        if (lastCommitted == null || committedNow == null) {
            return lastCommitted == committedNow;
        }
        return lastCommitted.offset() == committedNow.offset()
                && Objects.equals(lastCommitted.metadata(), committedNow.metadata());
    }

    /** @return the offsets in flight, oldest first (a copy) */
    TreeSet<Long> inFlightOffsets() {
        return new TreeSet<>(inFlight);
    }
}
