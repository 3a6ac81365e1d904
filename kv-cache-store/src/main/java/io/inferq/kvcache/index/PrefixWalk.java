package io.inferq.kvcache.index;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The shared walk of {@link PrefixIndex#longestPrefixByWorker}: feed the holders of block 0, 1, 2, …
 * in order; a worker's run ends at the first block it does not hold. Not thread-safe (one per lookup).
 */
final class PrefixWalk {

    private final Map<String, PrefixMatch> result = new HashMap<>();
    private Set<String> alive;          // encoded holders still on a run
    private int block;

    /** Feeds the holders of the next block; returns false once no worker can extend its run. */
    boolean next(Collection<String> holdersOfBlock) {
        if (block == 0) {
            alive = new HashSet<>(holdersOfBlock);
        } else {
            for (var it = alive.iterator(); it.hasNext(); ) {
                String h = it.next();
                if (!holdersOfBlock.contains(h)) {
                    finish(h, block);
                    it.remove();
                }
            }
        }
        block++;
        return !alive.isEmpty();
    }

    Map<String, PrefixMatch> result() {
        if (alive != null) {
            for (String h : alive) {
                finish(h, block);
            }
            alive.clear();
        }
        return result;
    }

    private void finish(String encoded, int leadingBlocks) {
        BlockHolder holder = BlockHolder.decode(encoded);
        result.put(holder.workerId(), new PrefixMatch(holder, leadingBlocks));
    }
}
