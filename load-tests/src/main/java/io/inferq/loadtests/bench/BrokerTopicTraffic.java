package io.inferq.loadtests.bench;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * What the in-process broker wrote and served, per topic, from its {@code kafka.server:type=BrokerTopicMetrics}
 * MBeans ({@code MessagesInPerSec}, {@code BytesInPerSec}, {@code BytesOutPerSec}, attribute {@code Count}).
 * The broker counts no records on the way out, so the records read are estimated per topic as records written ×
 * bytes out ÷ bytes in (how many times the topic's bytes were fetched: one consumer group reading everything
 * once gives 1). Empty when the broker's metrics are not in this JVM (an external broker).
 */
record BrokerTopicTraffic(Map<String, Counts> byTopic) {

    /** Cumulative counts of one topic. */
    record Counts(long recordsIn, long bytesIn, long bytesOut) {
        Counts minus(Counts earlier) {
            return new Counts(recordsIn - earlier.recordsIn, bytesIn - earlier.bytesIn, bytesOut - earlier.bytesOut);
        }

        /** Records written × how many times their bytes were fetched; 0 when nothing was written. */
        double recordsRead() {
            return bytesIn <= 0 ? 0 : recordsIn * (bytesOut / (double) bytesIn);
        }
    }

    /** Reads the broker's per-topic counters now. */
    static BrokerTopicTraffic snapshot() {
        Map<String, long[]> raw = new TreeMap<>();
        MBeanServer mbeans = ManagementFactory.getPlatformMBeanServer();
        try {
            for (String metric : new String[] {"MessagesInPerSec", "BytesInPerSec", "BytesOutPerSec"}) {
                for (ObjectName name : mbeans.queryNames(new ObjectName("kafka.server:type=BrokerTopicMetrics,name=" + metric + ",topic=*"), null)) {
                    if (mbeans.getAttribute(name, "Count") instanceof Number n) {
                        long[] c = raw.computeIfAbsent(name.getKeyProperty("topic"), t -> new long[3]);
                        c[metric.startsWith("Messages") ? 0 : metric.startsWith("BytesIn") ? 1 : 2] = n.longValue();
                    }
                }
            }
        } catch (JMException e) {
            return new BrokerTopicTraffic(Map.of());
        }
        Map<String, Counts> out = new TreeMap<>();
        raw.forEach((topic, c) -> out.put(topic, new Counts(c[0], c[1], c[2])));
        return new BrokerTopicTraffic(out);
    }

    /** Per-topic differences since {@code earlier}; topics with nothing written or read in between are left out. */
    BrokerTopicTraffic since(BrokerTopicTraffic earlier) {
        Map<String, Counts> out = new TreeMap<>();
        byTopic.forEach((topic, now) -> {
            Counts d = now.minus(earlier.byTopic.getOrDefault(topic, new Counts(0, 0, 0)));
            if (d.recordsIn > 0 || d.bytesOut > 0) {
                out.put(topic, d);
            }
        });
        return new BrokerTopicTraffic(out);
    }

    long recordsWritten() {
        return byTopic.values().stream().mapToLong(Counts::recordsIn).sum();
    }

    double recordsRead() {
        return byTopic.values().stream().mapToDouble(Counts::recordsRead).sum();
    }

    /** Per unit (job or raw record): "topic" → "written / read", largest first. */
    Map<String, String> perUnit(long units) {
        double n = Math.max(1, units);
        Map<String, String> out = new LinkedHashMap<>();
        byTopic.entrySet().stream()
                .sorted((a, b) -> Double.compare(b.getValue().recordsIn + b.getValue().recordsRead(),
                        a.getValue().recordsIn + a.getValue().recordsRead()))
                .forEach(e -> out.put(e.getKey(), String.format(java.util.Locale.ROOT, "%.2f / %.2f",
                        e.getValue().recordsIn / n, e.getValue().recordsRead() / n)));
        return out;
    }
}
