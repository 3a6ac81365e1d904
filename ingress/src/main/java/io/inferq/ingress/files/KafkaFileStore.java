package io.inferq.ingress.files;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.topics.TopicCatalogue;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link FileStore} in the compacted topic {@value TopicCatalogue#FILES}. A file is records keyed
 * {@code <id>/chunk/<n>} (at most {@link #CHUNK_BYTES} of content each) and, written last once every chunk is durable,
 * {@code <id>/meta} (its metadata as JSON): a file is visible only when complete. All records of a file go to one
 * partition. Delete writes tombstones (metadata first), which compaction turns into nothing. Expired files disappear
 * from reads at once and are tombstoned by a sweep every minute (any process may sweep; tombstones are idempotent).
 *
 * <p>Every process replays the topic into an in-memory index (metadata and each chunk's offset; no content), so every
 * ingress process can serve every file; content is read back from Kafka by offset, one chunk at a time. Hazelcast is
 * not involved: Kafka is the only copy.
 */
public final class KafkaFileStore implements FileStore {
    private static final Logger LOG = LoggerFactory.getLogger(KafkaFileStore.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration BARRIER = Duration.ofSeconds(3);

    private final KafkaClientSettings kafka;
    private final Producer<String, byte[]> producer;
    private final Clock clock;
    private final int partitions;
    private final TopicReplica replica;
    private final Map<String, Entry> index = new ConcurrentHashMap<>();
    private final ScheduledExecutorService sweeper;

    /** What the index knows of one file id. */
    private static final class Entry {
        volatile StoredFile meta;
        final Map<Integer, Long> chunkOffsets = new ConcurrentHashMap<>();
        volatile int partition;
    }

    public KafkaFileStore(KafkaClientSettings kafka, Producer<String, byte[]> producer, Clock clock) {
        this.kafka = kafka;
        this.producer = producer;
        this.clock = clock;
        this.partitions = producer.partitionsFor(TopicCatalogue.FILES).size();
        this.replica = new TopicReplica("files-index", kafka, TopicCatalogue.FILES, this::apply);
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "files-expiry");
            t.setDaemon(true);
            return t;
        });
    }

    public void start() {
        replica.start();
        sweeper.scheduleWithFixedDelay(this::sweepExpired, 60, 60, TimeUnit.SECONDS);
    }

    @Override
    public boolean isReady() {
        return replica.isCaughtUp();
    }

    /** @return a new file id in OpenAI's form */
    public static String newId() {
        byte[] b = new byte[12];
        RANDOM.nextBytes(b);
        return "file-" + HexFormat.of().formatHex(b);
    }

    private int partitionOf(String id) {
        return Math.floorMod(id.hashCode(), partitions);
    }

    private void apply(ConsumerRecord<String, byte[]> r) {
        String key = r.key();
        int slash = key == null ? -1 : key.indexOf('/');
        if (slash < 0) {
            return;
        }
        String id = key.substring(0, slash);
        String rest = key.substring(slash + 1);
        if (rest.equals("meta")) {
            if (r.value() == null) {
                Entry e = index.get(id);
                if (e != null) {
                    e.meta = null;
                    if (e.chunkOffsets.isEmpty()) {
                        index.remove(id);
                    }
                }
            } else {
                Entry e = index.computeIfAbsent(id, k -> new Entry());
                e.partition = r.partition();
                e.meta = StoredFile.fromRecordJson(new JsonObject(new String(r.value(), StandardCharsets.UTF_8)));
            }
        } else if (rest.startsWith("chunk/")) {
            int n = Integer.parseInt(rest.substring("chunk/".length()));
            if (r.value() == null) {
                Entry e = index.get(id);
                if (e != null) {
                    e.chunkOffsets.remove(n);
                    if (e.meta == null && e.chunkOffsets.isEmpty()) {
                        index.remove(id);
                    }
                }
            } else {
                Entry e = index.computeIfAbsent(id, k -> new Entry());
                e.partition = r.partition();
                e.chunkOffsets.put(n, r.offset());
            }
        }
    }

    @Override
    public Upload begin(String id, String tenant, String filename, String purpose, Long expiresAt) {
        return new KafkaUpload(id == null ? newId() : id, tenant, filename, purpose, expiresAt);
    }

    private final class KafkaUpload implements Upload {
        private final String id;
        private final String tenant;
        private volatile Long expiresAt;
        private final int partition;
        private volatile String filename;
        private volatile String purpose;
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private final List<CompletableFuture<Void>> sent = new ArrayList<>();
        private final Map<Integer, Long> offsets = new ConcurrentHashMap<>();
        private long bytes;
        private int chunks;

        KafkaUpload(String id, String tenant, String filename, String purpose, Long expiresAt) {
            this.id = id;
            this.tenant = tenant;
            this.filename = filename;
            this.purpose = purpose;
            this.expiresAt = expiresAt;
            this.partition = partitionOf(id);
        }

        @Override
        public String id() {
            return id;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void describe(String filename, String purpose, Long expiresAt) {
            this.expiresAt = expiresAt;
            if (filename != null) {
                this.filename = filename;
            }
            if (purpose != null) {
                this.purpose = purpose;
            }
        }

        @Override
        public synchronized CompletionStage<Void> write(byte[] data) {
            int at = 0;
            while (at < data.length) {
                int n = Math.min(CHUNK_BYTES - buffer.size(), data.length - at);
                buffer.write(data, at, n);
                at += n;
                bytes += n;
                if (buffer.size() == CHUNK_BYTES) {
                    sendChunk();
                }
            }
            // back-pressure: everything but the last chunk sent must be durable before more is accepted
            if (sent.size() <= 1) {
                return CompletableFuture.completedFuture(null);
            }
            return CompletableFuture.allOf(sent.subList(0, sent.size() - 1).toArray(CompletableFuture[]::new));
        }

        private void sendChunk() {
            int n = chunks++;
            byte[] chunk = buffer.toByteArray();
            buffer.reset();
            CompletableFuture<Void> f = new CompletableFuture<>();
            try {
                producer.send(new ProducerRecord<>(TopicCatalogue.FILES, partition, id + "/chunk/" + n, chunk), (md, ex) -> {
                    if (ex != null) {
                        f.completeExceptionally(ex);
                    } else {
                        offsets.put(n, md.offset());
                        f.complete(null);
                    }
                });
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
            sent.removeIf(CompletableFuture::isDone);
            sent.add(f);
        }

        @Override
        public synchronized CompletionStage<StoredFile> finish() {
            if (buffer.size() > 0) {
                sendChunk();
            }
            List<CompletableFuture<Void>> pending = new ArrayList<>(sent);
            StoredFile file = new StoredFile(id, tenant, bytes, clock.millis() / 1000, filename, purpose, expiresAt, chunks);
            return CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).thenCompose(v -> {
                // the chunks' offsets are known now: index them before the metadata makes the file visible
                Entry e = index.computeIfAbsent(id, k -> new Entry());
                e.partition = partition;
                e.chunkOffsets.putAll(offsets);
                CompletableFuture<StoredFile> done = new CompletableFuture<>();
                try {
                    producer.send(new ProducerRecord<>(TopicCatalogue.FILES, partition, id + "/meta",
                            file.toRecordJson().encode().getBytes(StandardCharsets.UTF_8)), (md, ex) -> {
                                if (ex != null) {
                                    done.completeExceptionally(ex);
                                } else {
                                    e.meta = file;
                                    done.complete(file);
                                }
                            });
                } catch (RuntimeException ex) {
                    done.completeExceptionally(ex);
                }
                return done;
            });
        }

        @Override
        public synchronized void abort() {
            for (int n = 0; n < chunks; n++) {
                tombstone(partition, id + "/chunk/" + n);
            }
        }
    }

    private CompletableFuture<Void> tombstone(int partition, String key) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        try {
            producer.send(new ProducerRecord<>(TopicCatalogue.FILES, partition, key, null), (md, ex) -> {
                if (ex != null) {
                    f.completeExceptionally(ex);
                } else {
                    f.complete(null);
                }
            });
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    @Override
    public Optional<StoredFile> get(String tenant, String id) {
        replica.awaitLatest(BARRIER);
        return visible(tenant, id);
    }

    private Optional<StoredFile> visible(String tenant, String id) {
        Entry e = index.get(id);
        StoredFile f = e == null ? null : e.meta;
        if (f == null || !f.tenant().equals(tenant) || f.expiredAt(clock.millis() / 1000)) {
            return Optional.empty();
        }
        return Optional.of(f);
    }

    @Override
    public Page list(String tenant, String purpose, String after, int limit) {
        replica.awaitLatest(BARRIER);
        long now = clock.millis() / 1000;
        List<StoredFile> all = new ArrayList<>();
        for (Entry e : index.values()) {
            StoredFile f = e.meta;
            if (f != null && f.tenant().equals(tenant) && !f.expiredAt(now) && (purpose == null || purpose.equals(f.purpose()))) {
                all.add(f);
            }
        }
        all.sort(Comparator.comparingLong(StoredFile::createdAt).thenComparing(StoredFile::id).reversed());
        int from = 0;
        if (after != null) {
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).id().equals(after)) {
                    from = i + 1;
                    break;
                }
            }
        }
        List<StoredFile> page = all.subList(Math.min(from, all.size()), Math.min(all.size(), from + limit));
        return new Page(List.copyOf(page), from + limit < all.size());
    }

    @Override
    public boolean delete(String tenant, String id) {
        replica.awaitLatest(BARRIER);
        Optional<StoredFile> f = visible(tenant, id);
        if (f.isEmpty()) {
            return false;
        }
        remove(f.get());
        return true;
    }

    private void remove(StoredFile f) {
        Entry e = index.get(f.id());
        int partition = e == null ? partitionOf(f.id()) : e.partition;
        List<CompletableFuture<Void>> all = new ArrayList<>();
        all.add(tombstone(partition, f.id() + "/meta"));
        if (e != null) {
            e.meta = null;
        }
        for (int n = 0; n < f.chunks(); n++) {
            all.add(tombstone(partition, f.id() + "/chunk/" + n));
        }
        try {
            CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while deleting " + f.id(), ex);
        } catch (ExecutionException | TimeoutException ex) {
            throw new IllegalStateException("file " + f.id() + " could not be deleted: " + ex, ex);
        }
    }

    private void sweepExpired() {
        long now = clock.millis() / 1000;
        for (Entry e : index.values()) {
            StoredFile f = e.meta;
            if (f != null && f.expiredAt(now)) {
                try {
                    remove(f);
                    LOG.info("file {} of tenant {} expired and was deleted", f.id(), f.tenant());
                } catch (RuntimeException ex) {
                    LOG.warn("expired file {} not deleted yet: {}", f.id(), ex.toString());
                }
            }
        }
    }

    @Override
    public long storedBytes(String tenant) {
        long now = clock.millis() / 1000;
        long sum = 0;
        for (Entry e : index.values()) {
            StoredFile f = e.meta;
            if (f != null && f.tenant().equals(tenant) && !f.expiredAt(now)) {
                sum += f.bytes();
            }
        }
        return sum;
    }

    @Override
    public InputStream open(StoredFile file) {
        Entry e = index.get(file.id());
        if (e == null) {
            throw new IllegalStateException("file " + file.id() + " is not indexed");
        }
        return new ChunkStream(file, e);
    }

    /** Reads a file's chunks back from Kafka by offset; one chunk in memory at a time. */
    private final class ChunkStream extends InputStream {
        private final StoredFile file;
        private final Entry entry;
        private KafkaConsumer<String, byte[]> consumer;
        private byte[] current = new byte[0];
        private int pos;
        private int next;

        ChunkStream(StoredFile file, Entry entry) {
            this.file = file;
            this.entry = entry;
        }

        private boolean fill() throws IOException {
            while (pos >= current.length) {
                if (next >= file.chunks()) {
                    return false;
                }
                current = readChunk(next++);
                pos = 0;
            }
            return true;
        }

        private byte[] readChunk(int n) throws IOException {
            Long offset = entry.chunkOffsets.get(n);
            if (offset == null) {
                throw new IOException("chunk " + n + " of file " + file.id() + " is missing");
            }
            TopicPartition tp = new TopicPartition(TopicCatalogue.FILES, entry.partition);
            if (consumer == null) {
                Properties p = kafka.consumer("files-reader", null);
                p.put("max.partition.fetch.bytes", String.valueOf(CHUNK_BYTES + 64 * 1024));
                p.put("fetch.max.bytes", String.valueOf(CHUNK_BYTES + 64 * 1024));
                p.put("max.poll.records", "1");
                consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
                consumer.assign(List.of(tp));
            }
            consumer.seek(tp, offset);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            String key = file.id() + "/chunk/" + n;
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (r.offset() == offset && key.equals(r.key()) && r.value() != null) {
                        return r.value();
                    }
                    if (r.offset() >= offset) {
                        throw new IOException("chunk " + n + " of file " + file.id() + " is gone (deleted or compacted)");
                    }
                }
            }
            throw new IOException("chunk " + n + " of file " + file.id() + " could not be read within 30 s");
        }

        @Override
        public int read() throws IOException {
            if (!fill()) {
                return -1;
            }
            return current[pos++] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!fill()) {
                return -1;
            }
            int n = Math.min(len, current.length - pos);
            System.arraycopy(current, pos, b, off, n);
            pos += n;
            return n;
        }

        @Override
        public void close() {
            if (consumer != null) {
                consumer.close();
                consumer = null;
            }
        }
    }

    @Override
    public void close() {
        sweeper.shutdownNow();
        replica.close();
    }
}
