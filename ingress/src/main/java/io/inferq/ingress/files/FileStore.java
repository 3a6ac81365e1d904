package io.inferq.ingress.files;

import java.io.InputStream;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Where Files API content lives: readable from every ingress process, surviving restarts, with retention. The Kafka
 * implementation ({@link KafkaFileStore}) keeps files in a compacted, chunked topic; the interface leaves room for an
 * S3-compatible store.
 *
 * <p>Methods that return a value directly may block (network): call them from a worker thread. {@link Upload} methods
 * are asynchronous and may be called from an event loop.
 */
public interface FileStore extends AutoCloseable {

    /** Largest chunk of content one record carries. */
    int CHUNK_BYTES = 512 * 1024;

    /**
     * Starts writing a new file; nothing is visible until {@link Upload#finish} completed.
     *
     * @param id        the file id, or null for a new random one (a fixed id lets a repeated write replace the file)
     * @param expiresAt Unix seconds, or null
     */
    Upload begin(String id, String tenant, String filename, String purpose, Long expiresAt);

    /** A file being written, chunk by chunk; bounded: at most two chunks are buffered or in flight. */
    interface Upload {
        /** @return completes when the data is accepted and the caller may write more (back-pressure) */
        CompletionStage<Void> write(byte[] data);

        /** @return the stored file, once every chunk and then its metadata are durable */
        CompletionStage<StoredFile> finish();

        /** Drops what was written (tombstones). */
        void abort();

        long bytes();

        String id();

        /** Sets the file name, purpose and expiry (Unix seconds or null) recorded at {@link #finish}. */
        void describe(String filename, String purpose, Long expiresAt);
    }

    /** @return the tenant's file, unless deleted or expired (waits for writes made through other processes) */
    Optional<StoredFile> get(String tenant, String id);

    /** @return up to {@code limit} of the tenant's files, newest first, after the file {@code after}; plus whether there are more */
    Page list(String tenant, String purpose, String after, int limit);

    /** One page of files. */
    record Page(List<StoredFile> files, boolean hasMore) {
    }

    /** @return the file's content, read chunk by chunk (blocking reads); the caller closes it */
    InputStream open(StoredFile file);

    /** Deletes a file (tombstones): it disappears at once from every process's reads. @return whether it existed */
    boolean delete(String tenant, String id);

    /** @return bytes the tenant stores */
    long storedBytes(String tenant);

    /** @return whether the existing files have been read at start */
    boolean isReady();

    @Override
    void close();
}
