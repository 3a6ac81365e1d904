package io.inferq.kvcache.index;

import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.IMap;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link PrefixIndex} on a Hazelcast {@link IMap}: {@code Long} block hash → {@code String[]} of encoded
 * holders (sorted, no duplicates). Stores and evictions are entry processors run on the key's owner
 * (one {@code executeOnKeys} call per batch), so concurrent updates by different workers never lose each
 * other's holders. The map must be bounded (see {@link #mapConfig}); when Hazelcast evicts an entry the
 * index just forgets those holders (a lost routing hint).
 *
 * <p><b>Threading:</b> thread-safe; every method makes blocking remote calls — do not call on an event
 * loop. <b>Failures:</b> any Hazelcast exception (member lost, instance shut down, timeout) is logged
 * and swallowed: updates are dropped, lookups return an empty map.
 */
public final class HazelcastPrefixIndex implements PrefixIndex {

    private static final Logger LOG = LoggerFactory.getLogger(HazelcastPrefixIndex.class);
    /** Lookups fetch holders in batches this big and stop as soon as no worker's run can continue. */
    private static final int LOOKUP_BATCH = 64;

    private final IMap<Long, String[]> map;

    /**
     * Wraps an existing map. Its configuration (bound, eviction) must already be present on the members,
     * e.g. from {@link #mapConfig}.
     */
    public HazelcastPrefixIndex(IMap<Long, String[]> map) {
        this.map = Objects.requireNonNull(map, "map must not be null");
    }

    /**
     * Adds {@link #mapConfig(String, int)} to the instance's dynamic configuration (a no-op if an equal
     * config is already there) and wraps the map. Blocking.
     *
     * @throws com.hazelcast.config.InvalidConfigurationException if a different config of that name exists
     */
    public static HazelcastPrefixIndex create(HazelcastInstance hz, String mapName, int maxEntriesPerMember) {
        hz.getConfig().addMapConfig(mapConfig(mapName, maxEntriesPerMember));
        return new HazelcastPrefixIndex(hz.getMap(mapName));
    }

    /**
     * The map configuration: at most {@code maxEntriesPerMember} block hashes per member
     * ({@link MaxSizePolicy#PER_NODE}; Hazelcast enforces it per partition as
     * {@code max × members / partitions}, so it is approximate), LRU eviction, one synchronous backup
     * (index entries are small, and routing quality should survive one member loss).
     */
    public static MapConfig mapConfig(String mapName, int maxEntriesPerMember) {
        if (maxEntriesPerMember <= 0) {
            throw new IllegalArgumentException("maxEntriesPerMember must be positive, was " + maxEntriesPerMember);
        }
        return new MapConfig(mapName)
                .setBackupCount(1)
                .setEvictionConfig(new EvictionConfig()
                        .setMaxSizePolicy(MaxSizePolicy.PER_NODE)
                        .setSize(maxEntriesPerMember)
                        .setEvictionPolicy(EvictionPolicy.LRU));
    }

    @Override
    public void recordStored(BlockHolder holder, Collection<Long> blockHashes) {
        update(new AddHolder(holder.encode()), blockHashes, "store");
    }

    @Override
    public void recordEvicted(BlockHolder holder, Collection<Long> blockHashes) {
        update(new RemoveHolder(holder.encode()), blockHashes, "evict");
    }

    private void update(EntryProcessor<Long, String[], Void> processor, Collection<Long> blockHashes, String what) {
        if (blockHashes.isEmpty()) {
            return;
        }
        try {
            map.executeOnKeys(new HashSet<>(blockHashes), processor);
        } catch (RuntimeException e) {
            LOG.warn("prefix index {} of {} blocks dropped: {}", what, blockHashes.size(), e.toString());
        }
    }

    @Override
    public Map<String, PrefixMatch> longestPrefixByWorker(List<Long> blockHashes) {
        PrefixWalk walk = new PrefixWalk();
        try {
            for (int from = 0; from < blockHashes.size(); from += LOOKUP_BATCH) {
                List<Long> batch = blockHashes.subList(from, Math.min(blockHashes.size(), from + LOOKUP_BATCH));
                Map<Long, String[]> found = map.getAll(new HashSet<>(batch));
                for (Long hash : batch) {
                    String[] holders = found.get(hash);
                    if (!walk.next(holders == null ? Set.of() : Arrays.asList(holders))) {
                        return walk.result();
                    }
                }
            }
            return walk.result();
        } catch (RuntimeException e) {
            LOG.warn("prefix index lookup failed, answering 'nothing held': {}", e.toString());
            return Map.of();
        }
    }

    /** Adds one holder to the entry's set; creates the entry if absent. Runs on the key's owner. */
    static final class AddHolder implements EntryProcessor<Long, String[], Void> {
        private final String holder;

        AddHolder(String holder) {
            this.holder = holder;
        }

        @Override
        public Void process(Map.Entry<Long, String[]> entry) {
            String[] current = entry.getValue();
            if (current == null) {
                entry.setValue(new String[] {holder});
            } else if (Arrays.binarySearch(current, holder) < 0) {
                String[] next = Arrays.copyOf(current, current.length + 1);
                next[current.length] = holder;
                Arrays.sort(next);
                entry.setValue(next);
            }
            return null;
        }
    }

    /** Removes one holder; deletes the entry when its set becomes empty. Runs on the key's owner. */
    static final class RemoveHolder implements EntryProcessor<Long, String[], Void> {
        private final String holder;

        RemoveHolder(String holder) {
            this.holder = holder;
        }

        @Override
        public Void process(Map.Entry<Long, String[]> entry) {
            String[] current = entry.getValue();
            if (current == null) {
                return null;
            }
            int at = Arrays.binarySearch(current, holder);
            if (at >= 0) {
                if (current.length == 1) {
                    entry.setValue(null);
                } else {
                    String[] next = new String[current.length - 1];
                    System.arraycopy(current, 0, next, 0, at);
                    System.arraycopy(current, at + 1, next, at, current.length - at - 1);
                    entry.setValue(next);
                }
            }
            return null;
        }
    }
}
