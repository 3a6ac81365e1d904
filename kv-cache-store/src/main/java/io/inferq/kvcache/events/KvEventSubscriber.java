package io.inferq.kvcache.events;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * Follows one vLLM engine instance's KV-cache events ({@code --kv-events-config} with the {@code zmq} publisher)
 * into an {@link EngineBlockIndex}: a ZeroMQ SUB socket on the instance's publisher endpoint, multipart messages
 * {@code (topic, 8-byte big-endian sequence, msgpack EventBatch)}.
 *
 * <p>Gaps: the sequence numbers are consecutive; when one is skipped (or the first message is not sequence 0),
 * the missed batches are asked for on the engine's replay endpoint (a ROUTER socket: the request is
 * {@code ("", start sequence)}, the answer {@code ("", sequence, payload)} frames ended by sequence -1) and
 * applied in order before the message that revealed the gap. When there is no replay endpoint or the engine no
 * longer has the batches, the instance's blocks are forgotten (an index that misses removals would route to
 * blocks that are gone; one that starts over only misses hits) and following resumes from the new message.
 *
 * <p>Threading: one daemon thread per instance owns both sockets; {@link #close} stops it (within the receive
 * timeout). A malformed message is logged and skipped.
 */
public final class KvEventSubscriber implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KvEventSubscriber.class);
    static final int RECEIVE_TIMEOUT_MS = 200;
    static final int REPLAY_TIMEOUT_MS = 3000;
    /**
     * A TCP connection whose ZMTP handshake has not completed by then is dropped and re-dialled. JeroMQ's default
     * (30 s) leaves a connection whose handshake stalled (seen under load: the peer's greeting sits unread in the
     * socket buffer) silent for 30 s, longer than a replay request waits.
     */
    static final int HANDSHAKE_TIMEOUT_MS = 1000;
    private static final long END_OF_REPLAY = -1;

    private final String poolId;
    private final int instance;
    private final String endpoint;
    private final String replayEndpoint;
    private final String topic;
    private final EngineBlockIndex index;
    private final ZContext context = new ZContext(1);
    private final Thread thread;
    private final AtomicLong applied = new AtomicLong();
    private final AtomicLong replayed = new AtomicLong();
    private final AtomicLong resets = new AtomicLong();
    private volatile boolean running = true;
    private long lastSeq = -1;

    /**
     * @param endpoint       the engine's publisher, e.g. {@code tcp://10.0.0.5:5557}
     * @param replayEndpoint the engine's replay ROUTER, e.g. {@code tcp://10.0.0.5:5558}; null if none
     * @param topic          topic prefix to subscribe to ("" = all)
     */
    public KvEventSubscriber(String poolId, int instance, String endpoint, String replayEndpoint, String topic,
                             EngineBlockIndex index) {
        this.poolId = Objects.requireNonNull(poolId, "poolId must not be null");
        this.instance = instance;
        this.endpoint = Objects.requireNonNull(endpoint, "endpoint must not be null");
        this.replayEndpoint = replayEndpoint == null || replayEndpoint.isBlank() ? null : replayEndpoint;
        this.topic = topic == null ? "" : topic;
        this.index = Objects.requireNonNull(index, "index must not be null");
        this.thread = new Thread(this::run, "inferq-kv-events-" + poolId + "-" + instance);
        this.thread.setDaemon(true);
    }

    public KvEventSubscriber start() {
        thread.start();
        return this;
    }

    /** Batches applied (live and replayed). */
    public long applied() {
        return applied.get();
    }

    /** Batches obtained through replay. */
    public long replayed() {
        return replayed.get();
    }

    /** Times the instance's blocks were forgotten after an unrecoverable gap. */
    public long resets() {
        return resets.get();
    }

    private void run() {
        try (ZMQ.Socket sub = context.createSocket(SocketType.SUB)) {
            sub.setReceiveTimeOut(RECEIVE_TIMEOUT_MS);
            sub.setRcvHWM(100_000);
            sub.setHandshakeIvl(HANDSHAKE_TIMEOUT_MS);
            sub.subscribe(topic.getBytes(StandardCharsets.UTF_8));
            sub.connect(endpoint);
            LOG.info("following KV events of engine {}/{} at {} (replay: {})", poolId, instance, endpoint,
                    replayEndpoint == null ? "none" : replayEndpoint);
            while (running && !Thread.currentThread().isInterrupted()) {
                List<byte[]> frames = receive(sub);
                if (frames == null) {
                    continue;
                }
                if (frames.size() < 3 || frames.get(frames.size() - 2).length != 8) {
                    LOG.debug("engine {}/{}: message of {} frames is not (topic, seq, payload): skipped", poolId, instance,
                            frames.size());
                    continue;
                }
                long seq = ByteBuffer.wrap(frames.get(frames.size() - 2)).getLong();
                byte[] payload = frames.get(frames.size() - 1);
                if (seq <= lastSeq && lastSeq >= 0) {
                    continue;   // already applied (through replay)
                }
                if (seq != lastSeq + 1) {
                    recoverGap(lastSeq + 1, seq);
                }
                if (seq > lastSeq) {
                    apply(seq, payload);
                }
            }
        } catch (RuntimeException e) {
            if (running) {
                LOG.warn("KV events of engine {}/{} stopped: {}", poolId, instance, e.toString());
            }
        }
    }

    private static List<byte[]> receive(ZMQ.Socket socket) {
        byte[] first = socket.recv(0);
        if (first == null) {
            return null;
        }
        List<byte[]> frames = new ArrayList<>(3);
        frames.add(first);
        while (socket.hasReceiveMore()) {
            byte[] f = socket.recv(0);
            if (f == null) {
                break;
            }
            frames.add(f);
        }
        return frames;
    }

    private void apply(long seq, byte[] payload) {
        lastSeq = seq;
        try {
            index.apply(poolId, instance, KvEventBatch.decode(payload));
            applied.incrementAndGet();
        } catch (RuntimeException e) {
            index.heardFrom(poolId, instance);
            LOG.warn("engine {}/{}: KV event batch {} not understood, skipped: {}", poolId, instance, seq, e.getMessage());
        }
    }

    /** Fetches {@code [from, upTo)} through replay and applies it; on failure forgets the instance's blocks. */
    private void recoverGap(long from, long upTo) {
        boolean complete = false;
        if (replayEndpoint != null) {
            try (ZMQ.Socket dealer = context.createSocket(SocketType.DEALER)) {
                dealer.setReceiveTimeOut(REPLAY_TIMEOUT_MS);
                dealer.setLinger(0);
                dealer.setHandshakeIvl(HANDSHAKE_TIMEOUT_MS);
                dealer.connect(replayEndpoint);
                dealer.sendMore(new byte[0]);
                dealer.send(ByteBuffer.allocate(8).putLong(from).array(), 0);
                // the first gap of a fresh subscription may start where the engine's replay buffer starts
                boolean startup = lastSeq < 0;
                while (true) {
                    List<byte[]> frames = receive(dealer);
                    if (frames == null) {
                        LOG.warn("engine {}/{}: replay of KV events from {} timed out", poolId, instance, from);
                        break;
                    }
                    if (frames.size() < 3 || frames.get(frames.size() - 2).length != 8) {
                        continue;
                    }
                    long seq = ByteBuffer.wrap(frames.get(frames.size() - 2)).getLong();
                    if (seq == END_OF_REPLAY) {
                        break;
                    }
                    if ((seq == lastSeq + 1 || startup && lastSeq < 0 && seq > lastSeq) && seq < upTo) {
                        apply(seq, frames.get(frames.size() - 1));
                        replayed.incrementAndGet();
                    }
                }
                complete = lastSeq == upTo - 1;
            } catch (RuntimeException e) {
                LOG.warn("engine {}/{}: replay of KV events failed: {}", poolId, instance, e.toString());
            }
        }
        if (!complete) {
            if (from > 0 || lastSeq >= 0) {
                LOG.warn("engine {}/{}: KV events {}..{} are lost; its blocks are forgotten and following resumes",
                        poolId, instance, lastSeq + 1, upTo - 1);
            }
            index.reset(poolId, instance);
            resets.incrementAndGet();
            lastSeq = upTo - 1;
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        context.close();
    }
}
