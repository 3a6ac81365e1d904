package io.inferq.server.wiring;

import io.inferq.ingress.batch.BatchesApi;
import io.inferq.ingress.console.BatchSource;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import java.util.Objects;

/** The console's Batches view over the Batch API's store ({@link BatchesApi#consolePage}): in memory, never blocks. */
public final class BatchesConsoleSource implements BatchSource {
    private final BatchesApi batches;

    public BatchesConsoleSource(BatchesApi batches) {
        this.batches = Objects.requireNonNull(batches, "batches");
    }

    @Override
    public boolean available() {
        return true;
    }

    @Override
    public Future<JsonObject> list(String tenant, int limit) {
        try {
            return Future.succeededFuture(batches.consolePage(tenant, limit));
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
    }
}
