package io.inferq.broker.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The embedded broker restarted on the data of a chaos run (kill -9 of the whole server) whose worker transaction was
 * left open: the coordinator recorded {@code CompleteCommit} while none of the transaction's three partitions
 * ({@code inferq.job-events-0}, {@code chaos.replies-0}, {@code __consumer_offsets-3}) got a marker. Without the
 * hanging-transaction check, those partitions' last stable offsets stay stuck for good (the server accepted 277 jobs
 * and completed none); with it, read_committed readers reach the end of each partition.
 */
class EmbeddedBrokerHangingTransactionTest {

    @TempDir
    Path dir;

    @Test
    void aRestartOnDataWithAHangingTransactionAbortsItSoReadCommittedReadersReachTheEnd() throws Exception {
        unzip("/hanging-transaction/kafka-data.zip", dir);
        List<TopicPartition> hung = List.of(new TopicPartition("inferq.job-events", 0), new TopicPartition("chaos.replies", 0),
                new TopicPartition("__consumer_offsets", 3));
        try (EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(dir.resolve("kafka"), "127.0.0.1", 0, 0)) {
            broker.start(60_000);
            Properties p = new Properties();
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
            try (Admin admin = Admin.create(p)) {
                for (TopicPartition tp : hung) {
                    assertThat(admin.describeProducers(List.of(tp)).all().get(30, TimeUnit.SECONDS).get(tp).activeProducers())
                            .as("open transactions on %s", tp).noneMatch(s -> s.currentTransactionStartOffset().isPresent());
                    long end = offset(admin, tp, IsolationLevel.READ_UNCOMMITTED);
                    assertThat(offset(admin, tp, IsolationLevel.READ_COMMITTED)).as("last stable offset of %s", tp).isEqualTo(end);
                }
            }
        }
    }

    private static long offset(Admin admin, TopicPartition tp, IsolationLevel level) throws Exception {
        return admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(level)).partitionResult(tp)
                .get(30, TimeUnit.SECONDS).offset();
    }

    private static void unzip(String resource, Path into) throws IOException {
        try (InputStream in = EmbeddedBrokerHangingTransactionTest.class.getResourceAsStream(resource);
                ZipInputStream zip = new ZipInputStream(in)) {
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                Path target = into.resolve(e.getName()).normalize();
                if (!target.startsWith(into)) {
                    throw new IOException("zip entry outside the target: " + e.getName());
                }
                if (e.isDirectory()) {
                    Files.createDirectories(target);
                } else {
                    Files.createDirectories(target.getParent());
                    Files.copy(zip, target);
                }
            }
        }
    }
}
