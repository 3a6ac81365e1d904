package io.inferq.ingress.files;

import io.vertx.core.json.JsonObject;

/**
 * A stored file's metadata: what the Files API's file object shows, plus its owner.
 *
 * @param id        {@code file-<hex>}
 * @param tenant    owner; no other tenant can see it
 * @param bytes     content length
 * @param createdAt Unix seconds
 * @param filename  as uploaded
 * @param purpose   {@code batch}, {@code batch_output}
 * @param expiresAt Unix seconds after which the file is gone, or null (never)
 * @param chunks    how many content chunks it has
 */
public record StoredFile(String id, String tenant, long bytes, long createdAt, String filename, String purpose, Long expiresAt,
        int chunks) {

    /** @return the OpenAI file object */
    public JsonObject toApiJson() {
        return new JsonObject().put("id", id).put("object", "file").put("bytes", bytes).put("created_at", createdAt)
                .put("filename", filename).put("purpose", purpose).put("expires_at", expiresAt)
                .put("status", "processed").put("status_details", null);
    }

    JsonObject toRecordJson() {
        return new JsonObject().put("id", id).put("tenant", tenant).put("bytes", bytes).put("created_at", createdAt)
                .put("filename", filename).put("purpose", purpose).put("expires_at", expiresAt).put("chunks", chunks);
    }

    static StoredFile fromRecordJson(JsonObject j) {
        return new StoredFile(j.getString("id"), j.getString("tenant"), j.getLong("bytes"), j.getLong("created_at"),
                j.getString("filename"), j.getString("purpose"), j.getLong("expires_at"), j.getInteger("chunks"));
    }

    /** @return whether the file has expired at {@code nowSeconds} */
    public boolean expiredAt(long nowSeconds) {
        return expiresAt != null && expiresAt <= nowSeconds;
    }
}
