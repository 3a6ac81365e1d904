/**
 * Prompt tokenisation: {@link io.inferq.kvcache.tokens.PromptTokenizer} and the deterministic
 * {@link io.inferq.kvcache.tokens.ChatTemplate} that turns a conversation into one string first.
 */
package io.inferq.kvcache.tokens;
