/**
 * Chained prefix-block hashes (the NVIDIA Dynamo / Mooncake scheme) and the seeds that keep models,
 * tokenizers and tenants apart.
 */
package io.inferq.kvcache.hashing;
