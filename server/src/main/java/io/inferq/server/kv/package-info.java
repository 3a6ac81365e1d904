/**
 * Starts the KV pieces that need the server's configuration: {@link io.inferq.server.kv.EngineEventsLauncher}
 * (subscribers to the engines' KV-cache events, for precise prefix routing) and
 * {@link io.inferq.server.kv.RemoteKvTierLauncher} (the Redis-protocol remote KV tier). The adapters themselves
 * live with their modules: prompt hashing in {@code kv-cache-store} ({@code io.inferq.kvcache.hashing.PrefixHashing}),
 * the prompt analyser and prefix locators in {@code dispatcher} ({@code io.inferq.dispatcher.kv}), the workers'
 * cache hook in {@code chip-workers} ({@code io.inferq.workers.kv}).
 */
package io.inferq.server.kv;
