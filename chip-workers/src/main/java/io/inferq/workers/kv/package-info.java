/**
 * The workers' side of the KV cache, on kv-cache-store: {@link io.inferq.workers.kv.KvPrefixCacheHook} reads a
 * batch's cached prefixes before prefill and stores the new blocks after, per pool ({@link io.inferq.workers.kv.PoolKvCache}).
 * It hashes through the same {@link io.inferq.kvcache.hashing.PrefixHashing} as the dispatcher, or takes the
 * hashes the dispatcher carried in the batch.
 */
package io.inferq.workers.kv;
