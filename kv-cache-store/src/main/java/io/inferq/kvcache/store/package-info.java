/**
 * The KV block store: a per-worker Caffeine tier weighted by bytes in front of a shared, bounded
 * Hazelcast map of payload chunks. Entry point: {@link io.inferq.kvcache.store.KvBlockStore}.
 */
package io.inferq.kvcache.store;
