package io.inferq.ingress.batch;

import io.vertx.core.json.JsonObject;

/** The OpenAI batch object, from a stored snapshot (runner state removed, live counts merged in). Stateless. */
final class BatchJson {
    private BatchJson() {
    }

    static JsonObject usage(long prompt, long completion, long cached) {
        return new JsonObject().put("input_tokens", prompt)
                .put("input_tokens_details", new JsonObject().put("cached_tokens", cached))
                .put("output_tokens", completion)
                .put("output_tokens_details", new JsonObject().put("reasoning_tokens", 0))
                .put("total_tokens", prompt + completion);
    }

    /** @return the batch object as the API shows it */
    static JsonObject toApi(JsonObject snapshot) {
        JsonObject b = snapshot.copy();
        b.remove(BatchStore.INTERNAL);
        return b;
    }

    /**
     * @param live        this process's live counts of the batch
     * @param cancelledAt when a cancel was requested (any process), or null
     */
    static JsonObject toApi(JsonObject snapshot, BatchProgress.Snapshot live, Long cancelledAt) {
        JsonObject b = toApi(snapshot);
        String status = b.getString("status");
        if (cancelledAt != null && ("in_progress".equals(status) || "validating".equals(status))) {
            b.put("status", "cancelling").put("cancelling_at", cancelledAt); // the runner has not acted on it yet
            status = "cancelling";
        }
        if (("in_progress".equals(status) || "cancelling".equals(status) || "finalizing".equals(status)) && live.finished() > 0) {
            JsonObject rc = b.getJsonObject("request_counts");
            rc.put("completed", Math.max(rc.getInteger("completed"), live.completed()))
                    .put("failed", Math.max(rc.getInteger("failed"), live.failed()));
            b.put("usage", usage(live.promptTokens(), live.completionTokens(), live.cachedTokens()));
        }
        return b;
    }
}
