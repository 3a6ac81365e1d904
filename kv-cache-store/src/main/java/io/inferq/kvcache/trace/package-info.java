/**
 * Replaying the prefix structure of real traces: requests of the Mooncake conversation trace and a
 * synthesiser that turns its 512-token block ids into token sequences with exactly the trace's sharing.
 */
package io.inferq.kvcache.trace;
