package io.inferq.kvcache.hashing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.StringLength;

class BlockHasherPropertiesTest {

    private static final int BLOCK = 8;

    @Property(tries = 300)
    void equalPrefixesGiveEqualHashesUpToTheFirstDifferingBlock(
            @ForAll("tokens") int[] a, @ForAll("tokens") int[] b, @ForAll @IntRange(min = 0, max = 200) int shared) {
        int n = Math.min(shared, Math.min(a.length, b.length));
        System.arraycopy(a, 0, b, 0, n);       // b shares a's first n tokens
        BlockHasher hasher = new BlockHasher(new HashSeed(42L), BLOCK);
        List<Long> ha = hasher.blockHashes(a);
        List<Long> hb = hasher.blockHashes(b);
        int firstDiff = firstDifferingToken(a, b);
        int equalBlocks = Math.min(firstDiff / BLOCK, Math.min(ha.size(), hb.size()));
        assertThat(ha.subList(0, equalBlocks)).isEqualTo(hb.subList(0, equalBlocks));
        for (int i = equalBlocks; i < Math.min(ha.size(), hb.size()); i++) {
            assertThat(ha.get(i)).as("block %d after the first difference", i).isNotEqualTo(hb.get(i));
        }
    }

    @Property(tries = 300)
    void changingOneTokenChangesThatBlockAndEveryLaterOne(
            @ForAll("tokens") int[] tokens, @ForAll @IntRange(min = 0, max = 10_000) int where, @ForAll @IntRange(min = 1, max = 1000) int delta) {
        if (tokens.length < BLOCK) {
            return;
        }
        int full = tokens.length / BLOCK * BLOCK;
        int at = where % full;
        int[] changed = tokens.clone();
        changed[at] = changed[at] + delta;
        BlockHasher hasher = new BlockHasher(new HashSeed(7L), BLOCK);
        List<Long> before = hasher.blockHashes(tokens);
        List<Long> after = hasher.blockHashes(changed);
        int block = at / BLOCK;
        assertThat(after.subList(0, block)).isEqualTo(before.subList(0, block));
        for (int i = block; i < before.size(); i++) {
            assertThat(after.get(i)).as("block %d", i).isNotEqualTo(before.get(i));
        }
    }

    @Property(tries = 200)
    void differentSaltsGiveDisjointHashes(
            @ForAll("tokens") int[] tokens, @ForAll @StringLength(max = 20) String saltA, @ForAll @StringLength(max = 20) String saltB) {
        if (saltA.equals(saltB) || saltA.indexOf('\0') >= 0 || saltB.indexOf('\0') >= 0) {
            return;
        }
        List<Long> a = new BlockHasher(HashSeed.derive("m", "t", saltA), BLOCK).blockHashes(tokens);
        List<Long> b = new BlockHasher(HashSeed.derive("m", "t", saltB), BLOCK).blockHashes(tokens);
        Set<Long> common = new HashSet<>(a);
        common.retainAll(new HashSet<>(b));
        assertThat(common).isEmpty();
    }

    @Provide
    Arbitrary<int[]> tokens() {
        // small vocabulary so that random prefixes often coincide
        return Arbitraries.integers().between(0, 3).array(int[].class).ofMaxSize(120);
    }

    private static int firstDifferingToken(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        for (int i = 0; i < n; i++) {
            if (a[i] != b[i]) {
                return i;
            }
        }
        return n;
    }
}
