package io.inferq.dispatcher;

import io.inferq.job.JobLane;
import java.util.List;

/** Test fixtures: linear time models and job builders. */
final class Fixtures {

    private Fixtures() {
    }

    /** prefill at {@code prefillTokensPerSecond}; decode {@code stepSeconds} per output token. */
    static ServiceTimeModel linear(double prefillTokensPerSecond, double stepSeconds) {
        return new ServiceTimeModel() {
            @Override
            public double prefillSeconds(int uncachedPromptTokens) {
                return uncachedPromptTokens / prefillTokensPerSecond;
            }

            @Override
            public double decodeSeconds(int batchSequences, int outputTokens, long contextTokens) {
                return outputTokens * stepSeconds;
            }
        };
    }

    static PoolProfile pool(String id, String model, int instances, int maxBatchTokens, int maxSeqs,
                            ServiceTimeModel tm) {
        return new PoolProfile(id, "chip-" + id, model, instances, maxBatchTokens, maxSeqs, tm);
    }

    static QueuedJob job(String id, JobLane lane, int prompt, long enqueuedAt) {
        return new QueuedJob(id, "t1", "m", lane, prompt, 16, enqueuedAt, null, List.of());
    }

    static QueuedJob job(String id, String tenant, JobLane lane, int prompt, int maxTokens, long enqueuedAt,
                         Long deadline) {
        return new QueuedJob(id, tenant, "m", lane, prompt, maxTokens, enqueuedAt, deadline, List.of());
    }

    static DispatchConfig config() {
        return DispatchConfig.defaults().withLengthBuckets(LengthBuckets.of(100, 1000)).withMaxWaits(10, 100)
                .withBatchPromotionAfterMs(5_000).withMaxInFlightBatchesPerInstance(1);
    }
}
