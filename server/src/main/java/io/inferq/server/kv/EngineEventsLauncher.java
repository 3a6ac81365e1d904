package io.inferq.server.kv;

import io.inferq.dispatcher.PrefixLocator;
import io.inferq.dispatcher.kv.EnginePrefixLocator;
import io.inferq.kvcache.events.EngineBlockIndex;
import io.inferq.kvcache.events.KvEventSubscriber;
import io.inferq.kvcache.hashing.PrefixHashing;
import io.inferq.server.config.InferqConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts one {@link KvEventSubscriber} per engine instance of every pool with {@code kv-events-endpoints} (the
 * dispatcher's process) and returns the precise locator over them, or null when no pool has any.
 */
public final class EngineEventsLauncher {

    /** Default silence after which a precise pool falls back to the approximate index. */
    public static final long DEFAULT_STALE_AFTER_MS = 60_000;

    private EngineEventsLauncher() {
    }

    public static EnginePrefixLocator start(InferqConfig config, PrefixHashing hashing, PrefixLocator fallback,
                                            MeterRegistry registry, List<AutoCloseable> toClose) {
        EngineBlockIndex index = new EngineBlockIndex(hashing.engineHasher(), java.time.Clock.systemUTC());
        Map<String, Long> staleAfter = new LinkedHashMap<>();
        for (InferqConfig.PoolSetting p : config.pools()) {
            if (p.kvEventsEndpoints().isEmpty()) {
                continue;
            }
            index.registerPool(p.id(), p.instances());
            staleAfter.put(p.id(), TimeUnit.MILLISECONDS.toNanos(
                    p.kvEventsStaleAfterMs() == null ? DEFAULT_STALE_AFTER_MS : p.kvEventsStaleAfterMs()));
            for (int i = 0; i < p.kvEventsEndpoints().size(); i++) {
                String replay = p.kvEventsReplayEndpoints().isEmpty() ? null : p.kvEventsReplayEndpoints().get(i);
                toClose.add(new KvEventSubscriber(p.id(), i, p.kvEventsEndpoints().get(i), replay,
                        p.kvEventsTopic() == null ? "" : p.kvEventsTopic(), index).start());
            }
        }
        return staleAfter.isEmpty() ? null : new EnginePrefixLocator(fallback, index, staleAfter, registry);
    }
}
