/**
 * Adapters that plug kv-cache-store into the pipeline: {@link io.inferq.server.kv.KvPromptAnalyzer} (dispatcher
 * intake: real token count and chained block hashes), {@link io.inferq.server.kv.IndexPrefixLocator} (dispatcher
 * routing: cached leading blocks per pool, from the prefix index) and {@link io.inferq.server.kv.KvPrefixCacheHook}
 * (workers: read cached prefix before prefill, store new blocks after). All three hash through one
 * {@link io.inferq.server.kv.PrefixHashing}, so tokens, block size and seeds are the same everywhere.
 */
package io.inferq.server.kv;
