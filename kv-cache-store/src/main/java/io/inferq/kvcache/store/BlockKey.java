package io.inferq.kvcache.store;

/** Local-tier key: KV-format fingerprint and chained block hash. */
record BlockKey(long formatFingerprint, long blockHash) {

    /** Key of chunk {@code chunk} in the shared map: {@code <fp hex>:<hash hex>:<chunk>}. */
    String chunkKey(int chunk) {
        return Long.toHexString(formatFingerprint) + ':' + Long.toHexString(blockHash) + ':' + chunk;
    }
}
