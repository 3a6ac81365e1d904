package io.inferq.kvcache;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import java.net.InetSocketAddress;
import java.util.UUID;

/**
 * One loopback Hazelcast member per test JVM (started on first use, stopped by Hazelcast's shutdown hook),
 * plus extra members on demand for member-loss tests. Cluster name is unique per JVM so concurrent builds
 * of other modules on the same machine never join.
 */
public final class TestHazelcast {

    private static final String CLUSTER = "inferq-kv-test-" + UUID.randomUUID();
    private static HazelcastInstance shared;

    private TestHazelcast() {
    }

    /** The JVM-wide member. Use a unique map name per test. */
    public static synchronized HazelcastInstance member() {
        if (shared == null) {
            shared = Hazelcast.newHazelcastInstance(config(null));
        }
        return shared;
    }

    /**
     * A new member joining {@link #member()}'s cluster, returned once the partition migrations its joining started have
     * finished and it owns partitions, so what a test writes next is spread over the members (a member that has just
     * joined owns nothing yet: a test that loses it would lose nothing). The caller shuts it down.
     */
    public static HazelcastInstance extraMember() {
        InetSocketAddress first = (InetSocketAddress) member().getLocalEndpoint().getSocketAddress();
        HazelcastInstance m = Hazelcast.newHazelcastInstance(config("127.0.0.1:" + first.getPort()));
        long until = System.nanoTime() + 30_000_000_000L;
        while (!(m.getPartitionService().isClusterSafe() && ownsPartitions(m))) {
            if (System.nanoTime() > until) {
                throw new IllegalStateException("the extra member owns no partition 30 s after joining");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return m;
    }

    private static boolean ownsPartitions(HazelcastInstance m) {
        return m.getPartitionService().getPartitions().stream()
                .anyMatch(p -> m.getCluster().getLocalMember().equals(p.getOwner()));
    }

    /** A standalone member of its own cluster (for shut-down-instance tests); the caller shuts it down. */
    public static HazelcastInstance standaloneMember() {
        Config c = config(null);
        c.setClusterName(CLUSTER + "-standalone-" + UUID.randomUUID());
        return Hazelcast.newHazelcastInstance(c);
    }

    private static Config config(String joinAddress) {
        Config c = new Config();
        c.setClusterName(CLUSTER);
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.partition.count", "31");
        c.setProperty("hazelcast.wait.seconds.before.join", "0");
        c.setProperty("hazelcast.max.wait.seconds.before.join", "0");
        c.setProperty("hazelcast.graceful.shutdown.max.wait", "10");
        NetworkConfig net = c.getNetworkConfig();
        net.setPort(5701).setPortAutoIncrement(true);
        net.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        JoinConfig join = net.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(true).addMember(joinAddress == null ? "127.0.0.1" : joinAddress);
        return c;
    }
}
