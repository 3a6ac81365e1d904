package io.inferq.workers.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.Test;

/**
 * The metadata of a slot's committed offsets: the codec round-trips and stays within its bound, and a partition's
 * progress never commits past an unfinished batch nor lets a done one be read as undone.
 */
class DoneOffsetsTest {

    @Test
    void encodesGapsAndRunsRelativeToTheWatermark() {
        assertThat(DoneOffsets.encode(100, new TreeSet<>(List.of(102L, 103L, 104L, 110L)))).isEqualTo("d1:2*3,6");
        assertThat(DoneOffsets.encode(100, new TreeSet<>())).isEmpty();
        assertThat(DoneOffsets.decode(100, "d1:2*3,6")).containsExactly(102L, 103L, 104L, 110L);
        assertThat(DoneOffsets.decode(7, "")).isEmpty();
        assertThat(DoneOffsets.decode(7, null)).isEmpty();
    }

    @Test
    void refusesWhatItDidNotWrite() {
        assertThatThrownBy(() -> DoneOffsets.decode(0, "some tool's note")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DoneOffsets.decode(0, "d1:")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DoneOffsets.decode(0, "d1:0")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DoneOffsets.decode(0, "d1:3,x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DoneOffsets.encode(5, new TreeSet<>(Set.of(5L)))).isInstanceOf(IllegalArgumentException.class);
    }

    @Property
    void roundTripsWithinTheWorstCase(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE / 4) long watermark,
            @ForAll @Size(max = 300) List<@IntRange(min = 1, max = 5_000) Integer> offsetsAbove) {
        TreeSet<Long> done = new TreeSet<>();
        offsetsAbove.forEach(d -> done.add(watermark + d));
        String metadata = DoneOffsets.encode(watermark, done);
        assertThat(DoneOffsets.decode(watermark, metadata)).isEqualTo(done);
        long span = done.isEmpty() ? 0 : done.last() - watermark;
        assertThat((long) metadata.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(
                DoneOffsets.worstCaseBytes(done.size(), span));
    }

    /**
     * A random life of one partition: batches start in offset order (some offsets are transaction markers, never read),
     * finish in any order, each committing {@link PartitionProgress#commitFor}. Every commit stays within the metadata
     * bound, never passes an unfinished batch, and names exactly the finished batches above it; a reader that takes
     * over from any commit reads again exactly the unfinished batches.
     */
    @Property(tries = 300)
    void aPartitionsCommitsNeverPassAnUnfinishedBatch(@ForAll long seed, @ForAll @IntRange(min = 1, max = 200) int room) {
        Random r = new Random(seed);
        PartitionProgress p = new PartitionProgress(new OffsetAndMetadata(10));
        TreeSet<Long> running = new TreeSet<>();
        TreeSet<Long> finished = new TreeSet<>();
        TreeSet<Long> batches = new TreeSet<>();
        long offset = 10;
        for (int step = 0; step < 2_000; step++) {
            if (running.size() < room && r.nextBoolean()) {
                offset += r.nextInt(4) == 0 ? 2 : 1; // a marker now and then
                if (!p.canStart(offset)) {
                    offset -= 1; // read again later
                    assertThat(running).isNotEmpty();
                } else {
                    p.started(offset);
                    running.add(offset);
                    batches.add(offset);
                    continue;
                }
            }
            if (running.isEmpty()) {
                continue;
            }
            long ending = r.nextInt(3) == 0 ? running.first() : List.copyOf(running).get(r.nextInt(running.size()));
            OffsetAndMetadata commit = p.commitFor(ending);
            p.committed(ending, commit);
            running.remove(ending);
            finished.add(ending);
            assertThat(commit.metadata().length()).isLessThanOrEqualTo(DoneOffsets.MAX_BYTES);
            assertThat(running.isEmpty() || commit.offset() <= running.first()).as("never past an unfinished batch").isTrue();
            TreeSet<Long> named = DoneOffsets.decode(commit.offset(), commit.metadata());
            assertThat(named).isEqualTo(new TreeSet<>(finished.tailSet(commit.offset(), false)));
            PartitionProgress reader = new PartitionProgress(commit);
            for (long b : batches.tailSet(commit.offset(), true)) {
                assertThat(!reader.isDone(b)).as("batch %s read again by a new owner", b).isEqualTo(running.contains(b));
            }
            assertThat(p.unchangedSince(commit)).isTrue();
            assertThat(reader.unchangedSince(commit)).isTrue();
        }
    }

    @Test
    void aPartitionTakenOverSkipsTheDoneBatchesAndCommitsPastThem() {
        // committed: 10 not done, 11 and 13 done
        PartitionProgress p = new PartitionProgress(new OffsetAndMetadata(10, "d1:1,2"));
        assertThat(p.isDone(11)).isTrue();
        assertThat(p.isDone(13)).isTrue();
        p.started(10);
        OffsetAndMetadata first = p.commitFor(10);
        assertThat(first.offset()).as("past 10 and the done 11; 12 was never read").isEqualTo(12);
        assertThat(DoneOffsets.decode(first.offset(), first.metadata())).containsExactly(13L);
        p.committed(10, first);
        assertThat(p.isDone(11)).as("still skipped when read").isTrue();
        p.skipped(11);
        p.started(12);
        OffsetAndMetadata second = p.commitFor(12);
        assertThat(second).isEqualTo(new OffsetAndMetadata(14, ""));
        p.committed(12, second);
        assertThat(p.unchangedSince(first)).as("a later commit is a change").isFalse();
        assertThat(p.unchangedSince(new OffsetAndMetadata(14))).isTrue();
        assertThat(p.unchangedSince(null)).isFalse();
    }
}
