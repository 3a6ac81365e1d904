package io.inferq.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.TopicPartition;
import io.inferq.job.JobLane;
import org.junit.jupiter.api.Test;

/** {@link BatchPlan#partitionOf} against Kafka's own range assignor, as the pool's worker slots use it. */
class BatchPartitionTest {
    private static final String TOPIC = "inferq.pool.p";

    /** member → partitions, as Kafka's range assignor gives them to {@code members} slots reading the topic. */
    private static Map<String, List<TopicPartition>> rangeAssignment(int members, int partitions) {
        Map<String, Subscription> subs = new HashMap<>();
        for (int m = 0; m < members; m++) {
            subs.put("slot-" + m, new Subscription(List.of(TOPIC)));
        }
        return new RangeAssignor().assign(Map.of(TOPIC, partitions), subs);
    }

    private static String ownerOf(Map<String, List<TopicPartition>> assignment, int partition) {
        return assignment.entrySet().stream().filter(e -> e.getValue().contains(new TopicPartition(TOPIC, partition)))
                .map(Map.Entry::getKey).findFirst().orElseThrow();
    }

    @Test
    void withOneSlotPerInstanceEveryInstancesBatchesGoToADifferentSlot() {
        for (int instances = 1; instances <= 8; instances++) {
            for (int partitions = instances; partitions <= 24; partitions++) {
                Map<String, List<TopicPartition>> assignment = rangeAssignment(instances, partitions);
                Set<String> slots = new HashSet<>();
                for (int i = 0; i < instances; i++) {
                    int p = BatchPlan.partitionOf(i, instances, partitions);
                    assertThat(p).isBetween(0, partitions - 1);
                    slots.add(ownerOf(assignment, p));
                }
                assertThat(slots).as("%d instances, %d partitions", instances, partitions).hasSize(instances);
            }
        }
    }

    @Test
    void fewerPartitionsThanInstancesStillNamesAnExistingPartition() {
        assertThat(BatchPlan.partitionOf(0, 4, 2)).isZero();
        assertThat(BatchPlan.partitionOf(3, 4, 2)).isEqualTo(1);
        assertThat(BatchPlan.partitionOf(5, 3, 6)).as("an instance index past the count wraps").isEqualTo(BatchPlan.partitionOf(2, 3, 6));
        assertThatThrownBy(() -> BatchPlan.partitionOf(0, 0, 6)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theSchedulerPlansEachBatchForTheLeastBackloggedInstance() {
        PoolProfile pool = Fixtures.pool("p", "m", 3, 1000, 4, Fixtures.linear(1000, 0.01));
        DispatchScheduler s = new DispatchScheduler(Fixtures.config().withMaxInFlightBatchesPerInstance(2), List.of(pool),
                RoutingPolicies.roundRobin(), PrefixLocator.NONE);
        List<Integer> planned = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            s.enqueue(Fixtures.job("j" + i, JobLane.INTERACTIVE, 50, 0));
            s.formBatches(10_000 * (i + 1)).forEach(b -> planned.add(b.instance()));
        }
        // three idle instances take the first three batches; the fourth queues behind one of them
        assertThat(planned).hasSize(4);
        assertThat(planned.subList(0, 3)).containsExactlyInAnyOrder(0, 1, 2);
        assertThat(planned.get(3)).isBetween(0, 2);
    }
}
