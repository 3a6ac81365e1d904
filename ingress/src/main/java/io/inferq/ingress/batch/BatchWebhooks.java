package io.inferq.ingress.batch;

import io.vertx.core.json.JsonObject;

/**
 * Sends the batch webhooks ({@code batch.completed}, {@code batch.failed}, {@code batch.expired},
 * {@code batch.cancelled}, OpenAI's names) through the Standard Webhooks delivery, with the batch object as
 * {@code data}. Called on the batch runner's thread; must not block for long.
 */
@FunctionalInterface
public interface BatchWebhooks {
    BatchWebhooks NONE = (tenant, url, type, batch) -> { };

    void batchEnded(String tenant, String url, String type, JsonObject batch);
}
