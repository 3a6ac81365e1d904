package io.inferq.server.kv;

import com.hazelcast.core.HazelcastInstance;
import io.inferq.kvcache.resp.RemoteValueStore;
import io.inferq.kvcache.resp.RespServer;
import io.inferq.kvcache.resp.RespSettings;
import io.inferq.server.config.InferqConfig;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts the remote KV tier (Redis protocol, {@code kv-cache.resp-*}) of one inferq process on its Hazelcast
 * member or client: every process that enables it serves the same values. Tenants' API keys are the AUTH
 * passwords; a tenant's namespace is its {@code cache-salt} (tenants that share a salt share values), else its id.
 */
public final class RemoteKvTierLauncher {

    /** Hazelcast maps {@code inferq.kv.remote.heads} and {@code inferq.kv.remote.chunks}. */
    public static final String MAP_PREFIX = "inferq.kv.remote";
    static final int CHUNK_BYTES = 256 * 1024;

    private RemoteKvTierLauncher() {
    }

    /** @return the started server, or null when {@code kv-cache.resp-port} is -1 */
    public static RespServer start(InferqConfig config, Vertx vertx, HazelcastInstance hazelcast) {
        InferqConfig.KvCache kv = config.kvCache();
        if (kv.respPort() < 0) {
            return null;
        }
        Map<String, String> namespaces = new LinkedHashMap<>();
        for (InferqConfig.TenantSetting t : config.tenants()) {
            String ns = t.cacheSalt() != null ? "salt:" + t.cacheSalt() : "tenant:" + t.id();
            t.apiKeys().forEach(k -> namespaces.put(k, ns));
        }
        int sharedMb = (int) Math.max(1, Math.min(Integer.MAX_VALUE, kv.respSharedBytes() >> 20));
        RemoteValueStore store = RemoteValueStore.create(hazelcast, MAP_PREFIX, CHUNK_BYTES, sharedMb,
                kv.respBackupCount(), kv.respLocalBytes(), Clock.systemUTC());
        long perConnection = Math.min(kv.respMaxInflightBytes(), 2L * kv.respMaxValueBytes());
        RespSettings settings = new RespSettings(kv.respHost(), kv.respPort(), kv.respMaxValueBytes(), perConnection,
                kv.respMaxInflightBytes(), 1024, 8, namespaces);
        RespServer server = new RespServer(vertx, store, settings);
        try {
            server.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            server.close();
            throw new IllegalStateException("kv-cache.resp-port " + kv.respPort() + " on " + kv.respHost()
                    + ": the remote KV tier did not start: " + e.getMessage(), e);
        }
        return server;
    }
}
