package io.inferq.server.wiring;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.inferq.server.config.ConfigException;
import io.inferq.server.config.InferqConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.List;

/**
 * Starts an embedded Hazelcast member (loopback TCP-IP join, no multicast, no phone-home) or connects
 * as a client to an external cluster. Blocking; call at start, never on an event loop.
 */
public final class HazelcastLauncher {
    private HazelcastLauncher() {
    }

    public static HazelcastInstance start(InferqConfig.Hazelcast cfg, String bindHost, List<MapConfig> maps) {
        if (!cfg.embedded()) {
            ClientConfig cc = new ClientConfig();
            cc.setClusterName(cfg.clusterName());
            cfg.members().forEach(m -> cc.getNetworkConfig().addAddress(m));
            cc.setProperty("hazelcast.logging.type", "slf4j");
            return HazelcastClient.newHazelcastClient(cc);
        }
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(bindHost, cfg.port()));
        } catch (IOException e) {
            throw new ConfigException("hazelcast.port: port " + cfg.port() + " on " + bindHost
                    + " is already in use; stop the other process or choose another port", e);
        }
        Config c = new Config();
        c.setClusterName(cfg.clusterName());
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.logging.type", "slf4j");
        c.setProperty("hazelcast.shutdownhook.enabled", "false");
        NetworkConfig net = c.getNetworkConfig();
        net.setPort(cfg.port()).setPortAutoIncrement(false);
        net.getInterfaces().setEnabled(true).addInterface(bindHost);
        JoinConfig join = net.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        // a member without a port would make Hazelcast probe 5701-5703, i.e. other clusters on this host: slow joins
        join.getTcpIpConfig().setEnabled(true).setMembers(cfg.members().stream()
                .map(m -> m.contains(":") ? m : m + ":" + cfg.port()).toList());
        c.setProperty("hazelcast.wait.seconds.before.join", "0");
        maps.forEach(c::addMapConfig);
        return Hazelcast.newHazelcastInstance(c);
    }
}
