package io.inferq.dispatcher;

/**
 * The priority a batch's sequences get inside the engine (continuous batching with priority scheduling, as vLLM's
 * {@code --scheduling-policy priority}): a sequence of a higher priority is admitted into the running batch at the next
 * iteration ahead of lower ones and may preempt them. The ordinal is the engine's priority value (smaller runs first),
 * the same numbers as the workers' engine model ({@code ContinuousBatchingEngine.PRIORITY_*}) and vLLM's
 * {@code priority} request field.
 */
public enum EnginePriority {
    /** Interactive work of a tenant holding less than its weighted share of the model's in-flight batches. */
    HIGH,
    /** Other interactive work (and any work while a single tenant is active). */
    NORMAL,
    /** Batch-lane work: fills what interactive work leaves, preempted first. */
    BATCH;

    /** The engine's priority number (0 runs first). */
    public int value() {
        return ordinal();
    }

    /** The priority of engine value {@code value} (clamped to the known ones). */
    public static EnginePriority ofValue(int value) {
        EnginePriority[] all = values();
        return all[Math.max(0, Math.min(all.length - 1, value))];
    }
}
