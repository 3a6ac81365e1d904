package io.inferq.ingress.console;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * Where the console's Batches view gets its data: in {@code server}, the Batch API's store. Without one
 * ({@link #NONE}), the view says "Batch API not available".
 *
 * <p>An implementation answers {@code GET /v1/console/batches} for one scope: a page in the OpenAI list shape whose
 * {@code data} holds batch objects ({@code id, status, request_counts {total, completed, failed}, created_at,
 * output_file_id, error_file_id}); the page draws progress bars from {@code request_counts}, offers cancel
 * ({@code POST /v1/batches/{id}/cancel}) and links {@code /v1/files/{id}/content}.
 */
public interface BatchSource {

    /** @return whether a batch store is wired (false: the view shows "Batch API not available") */
    boolean available();

    /**
     * @param tenant the caller's tenant, or null for an operator (every tenant)
     * @param limit  1..100
     * @return a list page; may complete on any thread; must not block the caller
     */
    Future<JsonObject> list(String tenant, int limit);

    /** No batch store. */
    BatchSource NONE = new BatchSource() {
        @Override
        public boolean available() {
            return false;
        }

        @Override
        public Future<JsonObject> list(String tenant, int limit) {
            return Future.failedFuture(new IllegalStateException("Batch API not available"));
        }
    };
}
