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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.net.ServerSocket;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts an embedded Hazelcast member (listening on the configured host only — loopback by default —, TCP-IP
 * join, no multicast, no phone-home) or connects
 * as a client to an external cluster. Blocking; call at start, never on an event loop.
 */
public final class HazelcastLauncher {
    private static final Logger LOG = LoggerFactory.getLogger(HazelcastLauncher.class);
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
        bindTo(c, bindHost, cfg.port());
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

    /**
     * Makes the member listen on {@code bindHost} only, as HTTP and Kafka do: Hazelcast's default
     * ({@code hazelcast.socket.bind.any=true}) listens on every interface even when an interface is configured,
     * which exposes an unauthenticated member to the network. A wildcard host ({@code 0.0.0.0}, {@code ::}) is
     * an explicit choice to listen everywhere and is kept.
     */
    static void bindTo(Config c, String bindHost, int port) {
        InetAddress address;
        try {
            address = InetAddress.getByName(bindHost);
        } catch (UnknownHostException e) {
            throw new ConfigException("http.host: '" + bindHost + "' does not resolve, so the Hazelcast member cannot bind to it", e);
        }
        if (address.isAnyLocalAddress()) {
            LOG.warn("the embedded Hazelcast member listens on every interface (http.host is {}) and has no authentication:"
                    + " restrict access to port {} with a firewall", bindHost, port);
            return;
        }
        String ip = address.getHostAddress();
        c.setProperty("hazelcast.socket.bind.any", "false");
        c.setProperty("hazelcast.socket.server.bind.any", "false");
        c.setProperty("hazelcast.socket.client.bind.any", "false");
        NetworkConfig net = c.getNetworkConfig();
        net.getInterfaces().setEnabled(true).addInterface(ip);
        net.setPublicAddress(ip.contains(":") ? "[" + ip + "]:" + port : ip + ":" + port);
    }
}
