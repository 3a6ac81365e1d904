package io.inferq.dispatcher.runtime;

import io.inferq.broker.avro.PromptBlocks;
import java.util.ArrayList;
import java.util.List;

/**
 * The block hashes a batch carries to its pool ({@code PoolBatch.prompt_blocks}): the hashes computed at intake by
 * {@link io.inferq.dispatcher.kv.KvPromptAnalyzer}, so the worker's cache hook does not tokenise and hash each prompt a second time.
 */
final class CarriedPromptBlocks {

    private CarriedPromptBlocks() {
    }

    /**
     * @param blockTokens tokens per block the hashes were made with
     * @param hashesByJob each job's chained block hashes, in the batch's job order
     * @return the record to carry, or null when no job has a hash (the dispatcher does not hash prompts, or none
     *         has a full block): the worker then hashes for itself, as it would without this field
     */
    public static PromptBlocks of(int blockTokens, List<List<Long>> hashesByJob) {
        boolean any = false;
        for (List<Long> h : hashesByJob) {
            any |= !h.isEmpty();
        }
        if (!any) {
            return null;
        }
        List<List<Long>> copy = new ArrayList<>(hashesByJob.size());
        hashesByJob.forEach(h -> copy.add(List.copyOf(h)));
        return new PromptBlocks(blockTokens, copy);
    }
}
