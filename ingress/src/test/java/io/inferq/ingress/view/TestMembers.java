package io.inferq.ingress.view;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import java.net.InetSocketAddress;
import java.util.UUID;

/**
 * Loopback Hazelcast members (no multicast, no discovery, a cluster name unique per call so concurrent builds on
 * the same machine never join) configured like the server's embedded member for the job view maps; and clients of
 * them, the way inferq runs against an external cluster (no inferq class on the member).
 */
final class TestMembers {
    private TestMembers() {
    }

    /** A new single-member cluster; the caller shuts it down. */
    static HazelcastInstance newMember() {
        Config c = new Config();
        c.setClusterName("inferq-view-test-" + UUID.randomUUID());
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.partition.count", "31");
        c.setProperty("hazelcast.wait.seconds.before.join", "0");
        c.setProperty("hazelcast.max.wait.seconds.before.join", "0");
        c.setProperty("hazelcast.shutdownhook.enabled", "false");
        NetworkConfig net = c.getNetworkConfig();
        net.setPort(5801).setPortAutoIncrement(true).setPortCount(200);
        net.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
        JoinConfig join = net.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(false);
        c.addMapConfig(HazelcastJobView.jobsMapConfig());
        c.addMapConfig(HazelcastJobView.idempotencyMapConfig());
        return Hazelcast.newHazelcastInstance(c);
    }

    /** A client of {@code member}'s cluster; the caller shuts it down. */
    static HazelcastInstance newClient(HazelcastInstance member) {
        InetSocketAddress a = (InetSocketAddress) member.getLocalEndpoint().getSocketAddress();
        ClientConfig cc = new ClientConfig();
        cc.setClusterName(member.getConfig().getClusterName());
        cc.getNetworkConfig().addAddress("127.0.0.1:" + a.getPort());
        cc.setProperty("hazelcast.logging.type", "slf4j");
        return HazelcastClient.newHazelcastClient(cc);
    }
}
