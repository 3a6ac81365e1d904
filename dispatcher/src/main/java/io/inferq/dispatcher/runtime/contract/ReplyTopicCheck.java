package io.inferq.dispatcher.runtime.contract;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Whether a reply topic exists. A result for a topic that does not exist would fail the worker's
 * transaction (brokers of a production cluster do not auto-create topics), so such a request is
 * refused at intake instead. Implementations are thread-safe; they may block briefly (an Admin call),
 * which the dispatcher — a worker verticle — tolerates.
 */
@FunctionalInterface
public interface ReplyTopicCheck {
    /** Every topic exists (tests, or a cluster with auto-creation). */
    ReplyTopicCheck ANY = topic -> true;

    boolean exists(String topic);

    /**
     * Asks the cluster, remembering a topic that exists for good and one that does not for 10 s (so a
     * topic created after a refusal is accepted soon). When the cluster cannot answer within 2 s the
     * topic is taken to exist: a transient outage must not dead-letter good requests.
     */
    static ReplyTopicCheck viaAdmin(Admin admin, Clock clock) {
        Map<String, Long> missingUntil = new ConcurrentHashMap<>();
        Map<String, Boolean> known = new ConcurrentHashMap<>();
        return topic -> {
            if (known.containsKey(topic)) {
                return true;
            }
            Long until = missingUntil.get(topic);
            if (until != null && clock.millis() - until < 0) {
                return false;
            }
            try {
                admin.describeTopics(List.of(topic)).allTopicNames().get(2, TimeUnit.SECONDS);
                if (known.size() < 100_000) {
                    known.put(topic, Boolean.TRUE);
                }
                missingUntil.remove(topic);
                return true;
            } catch (ExecutionException e) {
                if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                    if (missingUntil.size() > 10_000) {
                        missingUntil.clear();
                    }
                    missingUntil.put(topic, clock.millis() + TimeUnit.SECONDS.toMillis(10));
                    return false;
                }
                return true;
            } catch (TimeoutException e) {
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return true;
            }
        };
    }
}
