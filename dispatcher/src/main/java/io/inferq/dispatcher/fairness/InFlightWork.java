package io.inferq.dispatcher.fairness;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The interactive work each tenant has in flight on a model's pools (sent to an engine and not finished), in tokens
 * (prompt + output budget of its jobs), and whether a tenant is <em>below its weighted share</em> of it. With
 * continuous-batching engines a batch credit is a stream into an engine and the engine, not the credit, decides what
 * runs, so a tenant's share of the fleet is the share of the work it keeps in the engines, not the number of batches it
 * holds: a light tenant sending one-job batches holds many credits but little work, a flooding tenant few credits and
 * most of the work.
 *
 * <p>A tenant t is below its share, for a batch of {@code w} tokens, when other tenants hold work in flight on the
 * model and {@code (inFlight(t) + w) ÷ weight(t) ≤ (Σ inFlight + w) ÷ Σ weight}, the sums over t and the tenants
 * holding work: with this batch it would still hold no more than its weighted share of the work in flight. A tenant
 * alone (nobody else holding work) is never below its share: it already owns the whole fleet.
 *
 * <p>Not thread-safe: owned by the {@code DispatchScheduler}'s thread. A batch counts from {@link #dispatched} to
 * {@link #finished} (idempotent; unknown batch ids are ignored).
 */
public final class InFlightWork {

    private final FairnessConfig fairness;
    /** Per model: in-flight tokens per tenant. */
    private final Map<String, Map<String, Long>> byModel = new HashMap<>();
    /** In-flight batch → its model and the tokens each of its tenants has in it. */
    private final Map<String, Booked> batches = new HashMap<>();

    private record Booked(String model, Map<String, Long> work) {
    }

    /** @param fairness the tenants' weights ({@link FairnessConfig#weightOf}) */
    public InFlightWork(FairnessConfig fairness) {
        this.fairness = Objects.requireNonNull(fairness, "fairness must not be null");
    }

    /** A batch was sent: {@code work} maps each of its tenants to its tokens in the batch. */
    public void dispatched(String batchId, String model, Map<String, Long> work) {
        Map<String, Long> copy = Map.copyOf(work);
        if (batches.putIfAbsent(batchId, new Booked(model, copy)) != null) {
            return;
        }
        Map<String, Long> held = byModel.computeIfAbsent(model, m -> new HashMap<>());
        copy.forEach((t, w) -> held.merge(t, w, Long::sum));
    }

    /** The batch left its pool (finished, failed or handed back). */
    public void finished(String batchId) {
        Booked b = batches.remove(batchId);
        if (b == null) {
            return;
        }
        Map<String, Long> held = byModel.get(b.model());
        b.work().forEach((t, w) -> held.computeIfPresent(t, (k, v) -> v - w <= 0 ? null : v - w));
    }

    /** Tokens {@code tenant} has in flight on {@code model}. */
    public long inFlight(String model, String tenant) {
        return byModel.getOrDefault(model, Map.of()).getOrDefault(tenant, 0L);
    }

    /** Whether a batch of {@code work} tokens of {@code tenant} keeps it within its weighted share (class comment). */
    public boolean belowShare(String model, String tenant, long work) {
        Map<String, Long> held = byModel.getOrDefault(model, Map.of());
        double weights = fairness.weightOf(tenant);
        long total = work;
        boolean others = false;
        for (Map.Entry<String, Long> e : held.entrySet()) {
            total += e.getValue();
            if (!e.getKey().equals(tenant)) {
                weights += fairness.weightOf(e.getKey());
                others = true;
            }
        }
        long mine = held.getOrDefault(tenant, 0L) + work;
        return others && mine / fairness.weightOf(tenant) <= total / weights;
    }
}
