package io.inferq.kvcache.resp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;
import io.vertx.core.internal.net.NetSocketInternal;
import io.vertx.core.net.NetSocket;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One client connection: an incremental RESP parser over the socket's input, one command at a time.
 * Everything here runs on the connection's event loop; store calls go to the worker executor.
 *
 * <p>Input is taken as Netty's own buffers ({@link NetSocketInternal#messageHandler}: no copy into a Vert.x heap
 * buffer first) and released once parsed; a value larger than a chunk is received straight into framed chunk
 * arrays ({@link RemoteValueStore#newPart}), the only copy of its bytes on the way to Hazelcast.
 */
final class RespConnection {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RespConnection.class);

    /** Input held before the socket is paused / resumed. */
    private static final int INBOX_HIGH = 1 << 20;
    private static final int INBOX_LOW = 256 << 10;
    /** Bulk strings up to this size are not counted against the budget. */
    private static final int SMALL_BULK = 64 << 10;
    private static final int MAX_LINE = 64 << 10;
    private static final int MAX_ARGS = 1 << 20;
    private static final String SERVER_VERSION = "7.2.0";
    private static final byte[] CRLF = {'\r', '\n'};

    private final NetSocket socket;
    private final Context context;
    private final WorkerExecutor workers;
    private final RemoteValueStore store;
    private final RespSettings settings;
    private final InflightBudget budget;
    private final long clientId;

    private final ArrayDeque<ByteBuf> inbox = new ArrayDeque<>();   // each released once read
    private long inboxBytes;
    private boolean paused;

    // parser state
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private int argsExpected = -1;
    private int argsRead;
    private List<Value> args;           // each argument in parts of at most the store's chunk size
    private long pendingBulkLen = -1;   // header read, buffer not yet reserved
    private byte[][] bulk;             // the argument being received, in parts (framed when larger than a chunk)
    private int bulkOffset;             // where each part's bytes start: 0 or RemoteValueStore.FRAME
    private int bulkPart;
    private int bulkFilled;             // payload bytes of bulk[bulkPart]
    private long skipRemaining;         // bytes of a refused bulk (+ CRLF) still to skip
    private int crlfRemaining;
    private String refused;             // error for the command being read, its arguments skipped
    private long reserved;              // budget held by the command being read / run
    private long commandBytes;          // argument bytes of the command being read

    private boolean busy;
    private boolean waitingForMemory;
    private boolean closed;

    private int protocol = 2;
    private String namespace;
    private String clientName;

    RespConnection(NetSocket socket, Context context, WorkerExecutor workers, RemoteValueStore store,
                   RespSettings settings, InflightBudget budget, long clientId) {
        this.socket = socket;
        this.context = context;
        this.workers = workers;
        this.store = store;
        this.settings = settings;
        this.budget = budget;
        this.clientId = clientId;
        this.namespace = settings.namespaceByKey().isEmpty() ? RespSettings.OPEN_NAMESPACE : null;
    }

    void start() {
        // a client that goes away (reset) is normal for a cache: no error log
        socket.exceptionHandler(e -> LOG.debug("remote KV tier connection {}: {}", clientId, e.toString()));
        ((NetSocketInternal) socket).messageHandler(this::onMessage);
    }

    void closed() {
        closed = true;
        releaseInbox();
        releaseReserved();
    }

    private void releaseInbox() {
        ByteBuf b;
        while ((b = inbox.pollFirst()) != null) {
            b.release();
        }
        inboxBytes = 0;
    }

    private void onMessage(Object msg) {
        if (!(msg instanceof ByteBuf b)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (closed || !b.isReadable()) {
            b.release();
            return;
        }
        inbox.add(b);
        inboxBytes += b.readableBytes();
        if (inboxBytes > INBOX_HIGH && !paused) {
            paused = true;
            socket.pause();
        }
        step();
    }

    // ---------------------------------------------------------------- parsing

    /** Parses and runs commands until one is running, input is exhausted or memory is short. */
    private void step() {
        while (!busy && !closed && !waitingForMemory) {
            if (!parseOne()) {
                break;
            }
        }
        if (paused && inboxBytes < INBOX_LOW && !closed) {
            paused = false;
            socket.resume();
        }
    }

    /** @return true if progress was made and parsing may go on */
    private boolean parseOne() {
        if (argsExpected < 0) {
            byte[] l = readLine();
            if (l == null) {
                return false;
            }
            if (l.length == 0) {
                return true;
            }
            if (l[0] == '*') {
                long n = parseLong(l, 1);
                if (n == Long.MIN_VALUE || n > MAX_ARGS) {
                    return protocolError("invalid multibulk length");
                }
                if (n <= 0) {
                    return true;
                }
                argsExpected = (int) n;
                argsRead = 0;
                commandBytes = 0;
                args = new ArrayList<>((int) Math.min(n, 16));
                return true;
            }
            // inline command (telnet, redis-cli's plain lines)
            String text = new String(l, StandardCharsets.ISO_8859_1).trim();
            if (text.isEmpty()) {
                return true;
            }
            List<Value> inline = new ArrayList<>();
            for (String part : text.split("\\s+")) {
                inline.add(Value.of(part.getBytes(StandardCharsets.ISO_8859_1)));
            }
            dispatch(inline, null);
            return true;
        }
        if (skipRemaining > 0) {
            return skip();
        }
        if (bulk != null) {
            return fillBulk();
        }
        if (crlfRemaining > 0) {
            return skipCrlf();
        }
        if (pendingBulkLen < 0) {
            byte[] l = readLine();
            if (l == null) {
                return false;
            }
            if (l.length == 0 || l[0] != '$') {
                return protocolError("expected '$', got '" + (l.length == 0 ? "" : (char) l[0]) + "'");
            }
            long len = parseLong(l, 1);
            if (len < 0 || len > Integer.MAX_VALUE - 16) {
                return protocolError("invalid bulk length");
            }
            if (refused == null && len > settings.maxValueBytes()) {
                refused = "value of " + len + " bytes is larger than kv-cache.resp-max-value-bytes ("
                        + settings.maxValueBytes() + ")";
            } else if (refused == null && commandBytes + len > settings.maxConnectionInflightBytes()) {
                refused = "command larger than kv-cache.resp-max-connection-inflight-bytes ("
                        + settings.maxConnectionInflightBytes() + ")";
            }
            commandBytes += len;
            if (refused != null) {
                skipRemaining = len + 2;
                return true;
            }
            pendingBulkLen = len;
        }
        long len = pendingBulkLen;
        if (len > SMALL_BULK) {
            if (!budget.reserveOrAwait(len, () -> context.runOnContext(v -> memoryReleased()))) {
                waitingForMemory = true;
                return false;
            }
            reserved += len;
        }
        pendingBulkLen = -1;
        int chunk = store.chunkBytes();
        int parts = len == 0 ? 1 : (int) ((len + chunk - 1) / chunk);
        bulk = new byte[parts][];
        bulkOffset = parts > 1 ? RemoteValueStore.FRAME : 0;   // chunks go to Hazelcast as they are
        for (int i = 0; i < parts; i++) {
            int n = (int) Math.min(chunk, len - (long) i * chunk);
            bulk[i] = parts > 1 ? RemoteValueStore.newPart(n) : new byte[n];
        }
        bulkPart = 0;
        bulkFilled = 0;
        return true;
    }

    private void memoryReleased() {
        if (waitingForMemory && !closed) {
            waitingForMemory = false;
            step();
        }
    }

    private boolean fillBulk() {
        while (bulkFilled == bulk[bulkPart].length - bulkOffset && bulkPart < bulk.length - 1) {
            bulkPart++;
            bulkFilled = 0;
        }
        byte[] part = bulk[bulkPart];
        int size = part.length - bulkOffset;
        while (bulkFilled < size) {
            ByteBuf b = inbox.peekFirst();
            if (b == null) {
                return false;
            }
            int n = Math.min(b.readableBytes(), size - bulkFilled);
            b.readBytes(part, bulkOffset + bulkFilled, n);
            bulkFilled += n;
            consumed(n);
        }
        if (bulkPart == bulk.length - 1) {
            args.add(new Value(bulk, bulkOffset));
            bulk = null;
            crlfRemaining = 2;
        }
        return true;
    }

    private boolean skipCrlf() {
        ByteBuf b = inbox.peekFirst();
        if (b == null) {
            return false;
        }
        byte expected = crlfRemaining == 2 ? (byte) '\r' : (byte) '\n';
        if (b.readByte() != expected) {
            return protocolError("bulk string not followed by CRLF");
        }
        consumed(1);
        if (--crlfRemaining == 0) {
            argumentDone();
        }
        return true;
    }

    private boolean skip() {
        ByteBuf b = inbox.peekFirst();
        if (b == null) {
            return false;
        }
        int n = (int) Math.min(b.readableBytes(), skipRemaining);
        b.skipBytes(n);
        consumed(n);
        skipRemaining -= n;
        if (skipRemaining == 0) {
            argumentDone();
        }
        return true;
    }

    private void argumentDone() {
        if (++argsRead == argsExpected) {
            List<Value> cmd = args;
            String error = refused;
            argsExpected = -1;
            args = null;
            refused = null;
            dispatch(cmd, error);
        }
    }

    /** Accounts for {@code n} bytes read from the first buffer, releasing it once empty. */
    private void consumed(int n) {
        inboxBytes -= n;
        ByteBuf first = inbox.peekFirst();
        if (first != null && !first.isReadable()) {
            inbox.pollFirst().release();
        }
    }

    /** A CRLF-terminated line without its terminator, or null if not complete yet. */
    private byte[] readLine() {
        while (true) {
            ByteBuf b = inbox.peekFirst();
            if (b == null) {
                return null;
            }
            int start = b.readerIndex();
            int end = b.writerIndex();
            for (int i = start; i < end; i++) {
                byte c = b.getByte(i);
                if (c == '\n') {
                    b.readerIndex(i + 1);
                    consumed(i - start + 1);
                    byte[] out = line.toByteArray();
                    line.reset();
                    int len = out.length;
                    if (len > 0 && out[len - 1] == '\r') {
                        len--;
                    }
                    return len == out.length ? out : java.util.Arrays.copyOf(out, len);
                }
                line.write(c);
            }
            b.readerIndex(end);
            consumed(end - start);
            if (line.size() > MAX_LINE) {
                protocolError("line too long");
                return null;
            }
        }
    }

    private static long parseLong(byte[] l, int from) {
        if (l.length <= from || l.length - from > 19) {
            return Long.MIN_VALUE;
        }
        try {
            return Long.parseLong(new String(l, from, l.length - from, StandardCharsets.ISO_8859_1));
        } catch (NumberFormatException e) {
            return Long.MIN_VALUE;
        }
    }

    private boolean protocolError(String what) {
        if (!closed) {
            closed = true;
            socket.write(Buffer.buffer("-ERR Protocol error: " + what + "\r\n")).onComplete(x -> socket.close());
        }
        return false;
    }

    private void releaseReserved() {
        long r = reserved;
        reserved = 0;
        budget.release(r);
    }

    // ---------------------------------------------------------------- commands

    private void dispatch(List<Value> cmd, String refusedError) {
        busy = true;
        Future<Void> done;
        try {
            done = refusedError != null ? replyError("ERR " + refusedError)
                    : execute(cmd).recover(e -> replyError("ERR remote KV tier unavailable: " + e.getMessage()));
        } catch (RuntimeException e) {
            done = replyError("ERR " + e.getMessage());
        }
        done.onComplete(x -> {
            releaseReserved();
            busy = false;
            if (closed) {
                return;
            }
            if (socket.writeQueueFull()) {
                socket.drainHandler(v -> {
                    socket.drainHandler(null);
                    step();
                });
            } else {
                step();
            }
        });
    }

    /** An argument as one array (keys, options: small). */
    private static byte[] arg(List<Value> cmd, int i) {
        return cmd.get(i).toArray();
    }

    private static List<byte[]> args(List<Value> cmd, int from) {
        List<byte[]> out = new ArrayList<>(cmd.size() - from);
        for (int i = from; i < cmd.size(); i++) {
            out.add(arg(cmd, i));
        }
        return out;
    }

    private Future<Void> execute(List<Value> cmd) {
        String name = new String(arg(cmd, 0), StandardCharsets.ISO_8859_1).toUpperCase(Locale.ROOT);
        int argc = cmd.size();
        if (namespace == null && !List.of("HELLO", "AUTH", "PING", "QUIT", "CLIENT").contains(name)) {
            return replyError("NOAUTH Authentication required.");
        }
        switch (name) {
            case "PING":
                return argc == 1 ? simple("PONG") : argc == 2 ? bulkReply(arg(cmd, 1)) : wrongArgs(name);
            case "ECHO":
                return argc == 2 ? bulkReply(arg(cmd, 1)) : wrongArgs(name);
            case "QUIT":
                closed = true;
                return simple("OK").onComplete(x -> socket.close());
            case "SELECT":
                if (argc != 2) {
                    return wrongArgs(name);
                }
                return "0".equals(str(arg(cmd, 1))) ? simple("OK") : replyError("ERR DB index is out of range");
            case "AUTH":
                if (argc != 2 && argc != 3) {
                    return wrongArgs(name);
                }
                return auth(arg(cmd, argc - 1)) ? simple("OK")
                        : replyError("WRONGPASS invalid username-password pair or user is disabled.");
            case "HELLO":
                return hello(cmd);
            case "CLIENT":
                return client(cmd);
            case "COMMAND":
                return write(Buffer.buffer(argc > 1 && "DOCS".equalsIgnoreCase(str(arg(cmd, 1)))
                        ? (protocol == 3 ? "%0\r\n" : "*0\r\n") : "*0\r\n"));
            case "INFO":
                return bulkReply(info().getBytes(StandardCharsets.UTF_8));
            case "GET":
                if (argc != 2) {
                    return wrongArgs(name);
                }
                byte[] key = arg(cmd, 1);
                return offLoop(() -> store.getValue(namespace, key)).compose(this::valueReply);
            case "MGET":
                if (argc < 2) {
                    return wrongArgs(name);
                }
                List<byte[]> keys = args(cmd, 1);
                return offLoop(() -> store.getAll(namespace, keys)).compose(this::arrayReply);
            case "SET":
                return set(cmd);
            case "EXISTS":
                if (argc < 2) {
                    return wrongArgs(name);
                }
                List<byte[]> probed = args(cmd, 1);
                return offLoop(() -> store.exists(namespace, probed)).compose(this::integer);
            case "DEL":
            case "UNLINK":
                if (argc < 2) {
                    return wrongArgs(name);
                }
                List<byte[]> deleted = args(cmd, 1);
                return offLoop(() -> store.delete(namespace, deleted)).compose(this::integer);
            default:
                return replyError("ERR unknown command '" + printable(name) + "', with args beginning with: ");
        }
    }

    private <T> Future<T> offLoop(java.util.concurrent.Callable<T> call) {
        return workers.executeBlocking(call, false);
    }

    private boolean auth(byte[] key) {
        if (settings.namespaceByKey().isEmpty()) {
            return true;   // no tenants: one open namespace, any password accepted
        }
        String ns = settings.namespaceByKey().get(new String(key, StandardCharsets.UTF_8));
        if (ns == null) {
            return false;
        }
        namespace = ns;
        return true;
    }

    private Future<Void> hello(List<Value> cmd) {
        int i = 1;
        int proto = protocol;
        if (cmd.size() > 1) {
            long p = parseLong(arg(cmd, 1), 0);
            if (p != 2 && p != 3) {
                return replyError("NOPROTO unsupported protocol version");
            }
            proto = (int) p;
            i = 2;
        }
        while (i < cmd.size()) {
            String opt = str(arg(cmd, i)).toUpperCase(Locale.ROOT);
            if ("AUTH".equals(opt) && i + 2 < cmd.size()) {
                if (!auth(arg(cmd, i + 2))) {
                    return replyError("WRONGPASS invalid username-password pair or user is disabled.");
                }
                i += 3;
            } else if ("SETNAME".equals(opt) && i + 1 < cmd.size()) {
                clientName = str(arg(cmd, i + 1));
                i += 2;
            } else {
                return replyError("ERR Syntax error in HELLO option '" + printable(opt) + "'");
            }
        }
        if (namespace == null) {
            return replyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                    + "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
                    + "protocol version at the same time");
        }
        protocol = proto;
        StringBuilder b = new StringBuilder();
        b.append(protocol == 3 ? "%7\r\n" : "*14\r\n");
        appendBulk(b, "server").append(bulkString("redis"));
        appendBulk(b, "version").append(bulkString(SERVER_VERSION));
        appendBulk(b, "proto").append(':').append(protocol).append("\r\n");
        appendBulk(b, "id").append(':').append(clientId).append("\r\n");
        appendBulk(b, "mode").append(bulkString("standalone"));
        appendBulk(b, "role").append(bulkString("master"));
        appendBulk(b, "modules").append("*0\r\n");
        return write(Buffer.buffer(b.toString()));
    }

    private Future<Void> client(List<Value> cmd) {
        if (cmd.size() < 2) {
            return wrongArgs("CLIENT");
        }
        String sub = str(arg(cmd, 1)).toUpperCase(Locale.ROOT);
        switch (sub) {
            case "SETNAME":
                if (cmd.size() != 3) {
                    return wrongArgs("CLIENT|SETNAME");
                }
                clientName = str(arg(cmd, 2));
                return simple("OK");
            case "SETINFO":
                return cmd.size() == 4 ? simple("OK") : wrongArgs("CLIENT|SETINFO");
            case "GETNAME":
                return clientName == null ? nil() : bulkReply(clientName.getBytes(StandardCharsets.UTF_8));
            case "ID":
                return integer(clientId);
            default:
                return replyError("ERR unknown subcommand '" + printable(sub) + "'. Try CLIENT HELP.");
        }
    }

    private Future<Void> set(List<Value> cmd) {
        if (cmd.size() < 3) {
            return wrongArgs("SET");
        }
        long ttl = 0;
        for (int i = 3; i < cmd.size(); i++) {
            String opt = str(arg(cmd, i)).toUpperCase(Locale.ROOT);
            if (("EX".equals(opt) || "PX".equals(opt)) && i + 1 < cmd.size() && ttl == 0) {
                long n = parseLong(arg(cmd, i + 1), 0);
                if (n == Long.MIN_VALUE) {
                    return replyError("ERR value is not an integer or out of range");
                }
                if (n <= 0 || n > Long.MAX_VALUE / 2000) {
                    return replyError("ERR invalid expire time in 'set' command");
                }
                ttl = "EX".equals(opt) ? n * 1000 : n;
                i++;
            } else {
                return replyError("ERR syntax error");
            }
        }
        long ttlMillis = ttl;
        byte[] key = arg(cmd, 1);
        Value value = cmd.get(2);
        return offLoop(() -> {
            store.set(namespace, key, value, ttlMillis);
            return null;
        }).compose(x -> simple("OK"), e -> replyError("ERR remote KV tier unavailable: " + e.getMessage()));
    }

    private String info() {
        return "# Server\r\nredis_version:" + SERVER_VERSION + "\r\nredis_mode:standalone\r\nserver_name:inferq-remote-kv\r\n"
                + "# Clients\r\nclient_id:" + clientId + "\r\n"
                + "# Memory\r\nused_memory:" + store.localBytes() + "\r\ninflight_value_bytes:" + budget.used() + "\r\n"
                + "# Keyspace\r\n";
    }

    // ---------------------------------------------------------------- replies

    private Future<Void> valueReply(Value v) {
        return v == null ? nil() : bulkReply(v, true);
    }

    private Future<Void> arrayReply(List<Value> values) {
        long total = 0;
        for (Value v : values) {
            total += v == null ? 0 : v.length();
        }
        long held = total;
        budget.force(held);
        Future<Void> last = write(Buffer.buffer("*" + values.size() + "\r\n"));
        for (Value v : values) {
            last = v == null ? nil() : bulkReply(v, false);
        }
        return last.eventually(() -> {
            budget.release(held);
            return Future.succeededFuture();
        });
    }

    private Future<Void> bulkReply(byte[] v) {
        return bulkReply(Value.of(v), true);
    }

    /**
     * A bulk string; a large value is written from its own parts (no copy of the whole) and counted in flight
     * until written.
     */
    private Future<Void> bulkReply(Value v, boolean account) {
        long length = v.length();
        byte[] header = ("$" + length + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
        if (length <= SMALL_BULK) {
            Buffer b = Buffer.buffer(header.length + (int) length + 2).appendBytes(header);
            for (int i = 0; i < v.parts(); i++) {
                b.appendBytes(v.array(i), v.offset(), v.partLength(i));
            }
            return write(b.appendString("\r\n"));
        }
        if (account) {
            budget.force(length);
        }
        // part by part, each wrapping its array: Netty copies a heap buffer into a direct one to write it, and a
        // composite of all parts would first be flattened into one heap array of the whole value (two copies and a
        // humongous array per reply); this way each part is copied once, into a pooled direct buffer
        write(BufferInternal.buffer(Unpooled.wrappedBuffer(header)));
        for (int i = 0; i < v.parts(); i++) {
            write(BufferInternal.buffer(Unpooled.wrappedBuffer(v.array(i), v.offset(), v.partLength(i))));
        }
        Future<Void> last = write(BufferInternal.buffer(Unpooled.wrappedBuffer(CRLF)));
        return account ? last.eventually(() -> {
            budget.release(length);
            return Future.succeededFuture();
        }) : last;
    }

    private Future<Void> nil() {
        return write(Buffer.buffer(protocol == 3 ? "_\r\n" : "$-1\r\n"));
    }

    private Future<Void> integer(long n) {
        return write(Buffer.buffer(":" + n + "\r\n"));
    }

    private Future<Void> simple(String s) {
        return write(Buffer.buffer("+" + s + "\r\n"));
    }

    private Future<Void> replyError(String message) {
        return write(Buffer.buffer("-" + message.replace('\r', ' ').replace('\n', ' ') + "\r\n"));
    }

    private Future<Void> wrongArgs(String name) {
        return replyError("ERR wrong number of arguments for '" + name.toLowerCase(Locale.ROOT) + "' command");
    }

    /** A write to a socket that closed meanwhile fails; that is ignored (the client is gone). */
    private Future<Void> write(Buffer b) {
        return socket.write(b).recover(e -> Future.succeededFuture());
    }

    private static StringBuilder appendBulk(StringBuilder b, String s) {
        return b.append(bulkString(s));
    }

    private static String bulkString(String s) {
        return "$" + s.getBytes(StandardCharsets.UTF_8).length + "\r\n" + s + "\r\n";
    }

    private static String str(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    private static String printable(String s) {
        String t = s.length() > 64 ? s.substring(0, 64) : s;
        return t.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
