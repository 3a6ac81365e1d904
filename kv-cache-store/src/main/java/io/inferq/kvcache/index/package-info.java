/**
 * The prefix index: block hash → the workers (and their pools) whose local tier holds the block, so the
 * router can send a job where its prefix already is.
 */
package io.inferq.kvcache.index;
