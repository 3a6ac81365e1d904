package io.inferq.ingress.webhooks;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The in-memory image of the compacted delivery topic: the latest known state of every delivery (with where its record
 * lives) and the disabled endpoints, rebuilt from the topic at start ({@link #apply}) and updated at once by local
 * writes.
 *
 * <p><b>Threading.</b> Written only on the webhook dispatcher's context; read from any thread (the API, the creator's
 * dedupe): each entry is consistent on its own.
 */
final class DeliveryLog {
    /** A delivery with where its latest record lives ({@code offset} -1 until the write is acknowledged). */
    record Tracked(Delivery d, int partition, long offset) {
    }

    private final Map<String, Tracked> deliveries = new ConcurrentHashMap<>();
    private final Map<String, DeliveryLogCodec.DisabledEndpoint> disabled = new ConcurrentHashMap<>();
    /**
     * Endpoints re-enabled here (a replay) whose tombstone has not been read back yet, with when: the disable record an
     * earlier failure wrote may still be on its way through the topic, and must not disable the endpoint again.
     */
    private final Map<String, Long> enabledAtMs = new ConcurrentHashMap<>();
    private final AtomicInteger live = new AtomicInteger();

    boolean contains(String id) {
        return deliveries.containsKey(id);
    }

    /** @return the tracked state of a delivery, or null */
    Tracked tracked(String id) {
        return deliveries.get(id);
    }

    /** @return the current state of a delivery, or null */
    Delivery get(String id) {
        Tracked t = deliveries.get(id);
        return t == null ? null : t.d();
    }

    Collection<Tracked> all() {
        return deliveries.values();
    }

    /** @return pending and failed deliveries in memory (the reader's bound counts these) */
    int live() {
        return live.get();
    }

    /** The live count, for a gauge. */
    AtomicInteger liveGauge() {
        return live;
    }

    void put(Tracked t) {
        Tracked old = deliveries.put(t.d().id(), t);
        live.addAndGet((t.d().isLive() ? 1 : 0) - (old != null && old.d().isLive() ? 1 : 0));
    }

    void remove(String id) {
        Tracked old = deliveries.remove(id);
        if (old != null && old.d().isLive()) {
            live.decrementAndGet();
        }
    }

    DeliveryLogCodec.DisabledEndpoint disabledEndpoint(String key) {
        return disabled.get(key);
    }

    void disable(DeliveryLogCodec.DisabledEndpoint ep) {
        enabledAtMs.remove(ep.key());
        disabled.put(ep.key(), ep);
    }

    /**
     * Re-enables an endpoint at {@code nowMs}: a disable record read from the topic later that was written at or before
     * then (by the failure the replay answers) is ignored until the re-enable's tombstone is read back.
     *
     * @return whether the endpoint was disabled
     */
    boolean enable(String key, long nowMs) {
        enabledAtMs.put(key, nowMs);
        return disabled.remove(key) != null;
    }

    /**
     * Applies one record of the delivery topic: a higher version replaces the known one, a tombstone written after the
     * current state removes a settled delivery, and endpoint records ({@code ep_…}) disable or re-enable an endpoint.
     *
     * @return the current state when an <em>older</em> version landed after it (compaction would keep the older one:
     *         the partition's owner should rewrite the current state), else null
     */
    Tracked apply(ConsumerRecord<String, byte[]> r) {
        String key = r.key();
        if (key == null) {
            return null;
        }
        if (key.startsWith("ep_")) {
            if (r.value() == null) {
                disabled.remove(key);
                enabledAtMs.remove(key);
            } else if (DeliveryLogCodec.decode(r.value()) instanceof DeliveryLogCodec.DisabledEndpoint ep) {
                Long enabledAt = enabledAtMs.get(key);
                if (enabledAt == null || ep.disabledAtMs() > enabledAt) {
                    disabled.put(key, ep);
                }
            }
            return null;
        }
        Tracked cur = deliveries.get(key);
        if (r.value() == null) {
            // written by a retention sweep; ignore when a newer state was written after it
            if (cur != null && cur.d().state() != Delivery.State.PENDING && cur.offset() >= 0 && r.offset() > cur.offset()) {
                remove(key);
            }
            return null;
        }
        if (!(DeliveryLogCodec.decode(r.value()) instanceof Delivery d)) {
            return null;
        }
        if (cur == null || d.version() > cur.d().version()) {
            put(new Tracked(d, r.partition(), r.offset()));
        } else if (d.version() == cur.d().version()) {
            if (cur.offset() < 0) {
                put(new Tracked(cur.d(), r.partition(), r.offset()));
            }
        } else if (cur.offset() >= 0 && r.offset() > cur.offset()) {
            return cur;
        }
        return null;
    }

    /** Records where an acknowledged write of {@code d} landed, unless a newer state was made meanwhile. */
    void acknowledged(Delivery d, int partition, long offset) {
        Tracked cur = deliveries.get(d.id());
        if (cur != null && cur.d().version() == d.version() && cur.offset() < 0) {
            put(new Tracked(d, partition, offset));
        }
    }

    /**
     * @param tenant null for every tenant (the operator console)
     * @return the tenant's deliveries in the given states, newest first. Any thread.
     */
    List<Delivery> list(String tenant, Set<Delivery.State> states) {
        return deliveries.values().stream().map(Tracked::d)
                .filter(d -> (tenant == null || d.tenant().equals(tenant)) && states.contains(d.state()))
                .sorted(Comparator.comparingLong(Delivery::createdAtMs).reversed().thenComparing(Delivery::id))
                .toList();
    }
}
