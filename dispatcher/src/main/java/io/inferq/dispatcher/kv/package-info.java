/**
 * The dispatcher's side of the KV cache, on kv-cache-store: {@link io.inferq.dispatcher.kv.KvPromptAnalyzer}
 * (intake: real token count and chained block hashes, through the shared
 * {@link io.inferq.kvcache.hashing.PrefixHashing}), {@link io.inferq.dispatcher.kv.IndexPrefixLocator} (routing:
 * cached leading blocks per pool, from the prefix index) and {@link io.inferq.dispatcher.kv.EnginePrefixLocator}
 * (routing from the engines' own KV-cache events).
 */
package io.inferq.dispatcher.kv;
