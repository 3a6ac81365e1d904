/**
 * Distributed KV cache for transformer prefixes (MLA first): tokens, chained block hashes, the prefix
 * index that routing reads, and the two-tier (Caffeine + Hazelcast) block store that workers read
 * before prefill.
 *
 * <p>Sub-packages, by feature:
 * <ul>
 *   <li>{@code tokens} — prompt tokenisation and the chat template;</li>
 *   <li>{@code hashing} — seeds and the chained XXH3 block hashes (the Dynamo/Mooncake scheme), and
 *       {@code PrefixHashing}, the one place that turns a conversation into tokens and block hashes;</li>
 *   <li>{@code index} — block hash → holders (worker, pool), for prefix-aware routing;</li>
 *   <li>{@code store} — the byte-level block store (local Caffeine tier in front of a Hazelcast map);</li>
 *   <li>{@code events} — vLLM KV-cache events and the per-instance block index they feed;</li>
 *   <li>{@code resp} — the remote KV tier's Redis-protocol front end.</li>
 * </ul>
 *
 * <p>Nothing in this module is allowed to make a job fail: every cache failure is a miss.
 */
package io.inferq.kvcache;
