package io.inferq.kvcache.store;

/**
 * The leading run of a request's blocks that the store has, by the tier each block was found in
 * (local tier preferred). Blocks of the run can come from either tier in any order; the run ends at the
 * first block that is in neither.
 *
 * @param localBlocks  blocks of the run found in this worker's local tier
 * @param sharedBlocks blocks of the run found only in the shared tier
 */
record CachedPrefix(int localBlocks, int sharedBlocks) {

    public static final CachedPrefix NONE = new CachedPrefix(0, 0);

    public CachedPrefix {
        if (localBlocks < 0 || sharedBlocks < 0) {
            throw new IllegalArgumentException("block counts must not be negative");
        }
    }

    /** Length of the leading run. */
    public int blocks() {
        return localBlocks + sharedBlocks;
    }
}
