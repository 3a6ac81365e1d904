package io.inferq.kvcache.events;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A vLLM-style KV-event publisher for tests (JeroMQ + msgpack-java): a PUB socket sending
 * {@code (topic, 8-byte big-endian seq, msgpack EventBatch)} and a ROUTER replay socket answering
 * {@code (identity, "", start seq)} with {@code (identity, "", seq, payload)} frames and a {@code -1} end marker, as
 * vLLM's {@code ZmqEventPublisher} does. Events are encoded as positional arrays or as maps tagged by {@code type}.
 */
final class FakeVllmPublisher implements AutoCloseable {

    final ZContext context = new ZContext(1);
    final ZMQ.Socket pub = context.createSocket(SocketType.PUB);
    final ZMQ.Socket replay = context.createSocket(SocketType.ROUTER);
    final String endpoint;
    final String replayEndpoint;
    final String topic;
    final List<byte[]> buffer = new ArrayList<>();   // payload of seq i
    final Set<Long> dropped;
    private final Thread replayThread;
    private volatile boolean running = true;

    FakeVllmPublisher(String topic, Set<Long> dropped) {
        this.topic = topic;
        this.dropped = dropped;
        int port = pub.bindToRandomPort("tcp://127.0.0.1");
        int replayPort = replay.bindToRandomPort("tcp://127.0.0.1");
        endpoint = "tcp://127.0.0.1:" + port;
        replayEndpoint = "tcp://127.0.0.1:" + replayPort;
        replay.setReceiveTimeOut(100);
        replayThread = new Thread(this::serveReplay, "fake-vllm-replay");
        replayThread.setDaemon(true);
        replayThread.start();
    }

    private void serveReplay() {
        while (running) {
            byte[] identity = replay.recv(0);
            if (identity == null) {
                continue;
            }
            List<byte[]> rest = new ArrayList<>();
            while (replay.hasReceiveMore()) {
                rest.add(replay.recv(0));
            }
            if (rest.size() != 2) {
                continue;
            }
            long start = ByteBuffer.wrap(rest.get(1)).getLong();
            List<byte[]> snapshot;
            synchronized (buffer) {
                snapshot = new ArrayList<>(buffer);
            }
            for (int seq = (int) Math.max(0, start); seq < snapshot.size(); seq++) {
                replay.sendMore(identity);
                replay.sendMore(new byte[0]);
                replay.sendMore(ByteBuffer.allocate(8).putLong(seq).array());
                replay.send(snapshot.get(seq), 0);
            }
            replay.sendMore(identity);
            replay.sendMore(new byte[0]);
            replay.sendMore(ByteBuffer.allocate(8).putLong(-1).array());
            replay.send(new byte[0], 0);
        }
    }

    /** Publishes a batch under the next sequence number (unless that number is dropped); returns the number. */
    long publish(byte[] payload) {
        long seq;
        synchronized (buffer) {
            seq = buffer.size();
            buffer.add(payload);
        }
        if (!dropped.contains(seq)) {
            send(seq, payload);
        }
        return seq;
    }

    /** Sends an already published batch again (the subscriber ignores what it has). */
    void resend(long seq) {
        byte[] payload;
        synchronized (buffer) {
            payload = buffer.get((int) seq);
        }
        send(seq, payload);
    }

    private void send(long seq, byte[] payload) {
        synchronized (pub) {
            pub.sendMore(topic.getBytes(StandardCharsets.UTF_8));
            pub.sendMore(ByteBuffer.allocate(8).putLong(seq).array());
            pub.send(payload, 0);
        }
    }

    // ------------------------------------------------------------------ msgpack encodings

    /** An event, to be encoded positionally or as a map. */
    sealed interface Ev permits Stored, Removed, Cleared {
    }

    record Stored(List<Object> hashes, Object parent, int[] tokens, int blockSize, String medium) implements Ev {
    }

    record Removed(List<Object> hashes, String medium) implements Ev {
    }

    record Cleared() implements Ev {
    }

    static byte[] batch(double ts, List<Ev> events, boolean asMaps) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(3);
            p.packDouble(ts);
            p.packArrayHeader(events.size());
            for (Ev e : events) {
                if (asMaps) {
                    packMap(p, e);
                } else {
                    packArray(p, e);
                }
            }
            p.packNil();
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void packArray(MessageBufferPacker p, Ev e) throws IOException {
        if (e instanceof Stored s) {
            p.packArrayHeader(7);
            p.packString("BlockStored");
            hashes(p, s.hashes());
            hash(p, s.parent());
            tokens(p, s.tokens());
            p.packInt(s.blockSize());
            p.packNil();
            p.packString(s.medium());
        } else if (e instanceof Removed r) {
            p.packArrayHeader(3);
            p.packString("BlockRemoved");
            hashes(p, r.hashes());
            p.packString(r.medium());
        } else {
            p.packArrayHeader(1);
            p.packString("AllBlocksCleared");
        }
    }

    private static void packMap(MessageBufferPacker p, Ev e) throws IOException {
        if (e instanceof Stored s) {
            p.packMapHeader(8);
            p.packString("type").packString("BlockStored");
            p.packString("block_hashes");
            hashes(p, s.hashes());
            p.packString("parent_block_hash");
            hash(p, s.parent());
            p.packString("token_ids");
            tokens(p, s.tokens());
            p.packString("block_size").packInt(s.blockSize());
            p.packString("lora_id").packNil();
            p.packString("medium").packString(s.medium());
            p.packString("lora_name").packNil();
        } else if (e instanceof Removed r) {
            p.packMapHeader(3);
            p.packString("type").packString("BlockRemoved");
            p.packString("block_hashes");
            hashes(p, r.hashes());
            p.packString("medium").packString(r.medium());
        } else {
            p.packMapHeader(1);
            p.packString("type").packString("AllBlocksCleared");
        }
    }

    private static void hashes(MessageBufferPacker p, List<Object> hashes) throws IOException {
        p.packArrayHeader(hashes.size());
        for (Object h : hashes) {
            hash(p, h);
        }
    }

    private static void hash(MessageBufferPacker p, Object h) throws IOException {
        if (h == null) {
            p.packNil();
        } else if (h instanceof Long l) {
            p.packLong(l);
        } else {
            byte[] b = (byte[]) h;
            p.packBinaryHeader(b.length);
            p.writePayload(b);
        }
    }

    private static void tokens(MessageBufferPacker p, int[] tokens) throws IOException {
        p.packArrayHeader(tokens.length);
        for (int t : tokens) {
            p.packInt(t);
        }
    }

    static int[] slice(int[] tokens, int from, int to) {
        return Arrays.copyOfRange(tokens, from, to);
    }

    @Override
    public void close() {
        running = false;
        try {
            replayThread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        context.close();
    }
}
