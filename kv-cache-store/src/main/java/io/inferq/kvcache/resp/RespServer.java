package io.inferq.kvcache.resp;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Redis-protocol (RESP2/RESP3) front of the remote KV tier, for engines whose KV offloading layer speaks
 * Redis (LMCache's {@code remote_url: redis://host:port}). Serves {@code HELLO}, {@code AUTH},
 * {@code CLIENT SETNAME/SETINFO/GETNAME/ID}, {@code PING}, {@code ECHO}, {@code SELECT 0}, {@code QUIT},
 * {@code GET}, {@code SET key value [EX s|PX ms]}, {@code EXISTS}, {@code DEL}/{@code UNLINK}, {@code MGET},
 * {@code INFO} and {@code COMMAND} (minimal answers); anything else gets {@code -ERR unknown command}.
 *
 * <p>Threading: one Vert.x {@link NetServer}; each connection's protocol work runs on its event loop, every
 * store call on a worker pool of {@link RespSettings#workerThreads()} threads. A connection runs one command
 * at a time (pipelined commands wait in its input, which is bounded: the socket is paused when it grows).
 *
 * <p>Bounds: values above {@link RespSettings#maxValueBytes()} and commands above
 * {@link RespSettings#maxConnectionInflightBytes()} get {@code -ERR} (their bytes are skipped, the connection
 * stays usable); all connections together hold at most {@link RespSettings#maxInflightBytes()} of argument
 * values, beyond which they stop reading until bytes are released; a client that reads replies slowly stops
 * its own connection's processing ({@code writeQueueFull}) and so, through TCP, its own writes.
 * Malformed RESP gets {@code -ERR Protocol error} and the connection is closed, as Redis does.
 */
public final class RespServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RespServer.class);

    private final Vertx vertx;
    private final RemoteValueStore store;
    private final RespSettings settings;
    private final InflightBudget budget;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicLong clientIds = new AtomicLong();
    private WorkerExecutor workers;
    private NetServer server;

    public RespServer(Vertx vertx, RemoteValueStore store, RespSettings settings) {
        this.vertx = Objects.requireNonNull(vertx, "vertx must not be null");
        this.store = Objects.requireNonNull(store, "store must not be null");
        this.settings = Objects.requireNonNull(settings, "settings must not be null");
        this.budget = new InflightBudget(settings.maxInflightBytes());
    }

    /** Starts listening; the future holds the bound port. */
    public Future<Integer> start() {
        workers = vertx.createSharedWorkerExecutor("inferq-kv-resp", settings.workerThreads());
        server = vertx.createNetServer(new NetServerOptions().setHost(settings.host()).setPort(settings.port())
                .setTcpNoDelay(true));
        server.connectHandler(socket -> {
            if (connections.incrementAndGet() > settings.maxConnections()) {
                connections.decrementAndGet();
                socket.write("-ERR max number of clients reached\r\n").onComplete(x -> socket.close());
                return;
            }
            RespConnection c = new RespConnection(socket, vertx.getOrCreateContext(), workers, store, settings, budget,
                    clientIds.incrementAndGet());
            socket.closeHandler(v -> {
                connections.decrementAndGet();
                c.closed();
            });
            c.start();
        });
        return server.listen().map(s -> {
            LOG.info("remote KV tier (Redis protocol) listening on {}:{}", settings.host(), s.actualPort());
            return s.actualPort();
        });
    }

    /** The bound port (after {@link #start}). */
    public int port() {
        return server.actualPort();
    }

    /** Bytes of values in flight now (for tests and INFO). */
    long inflightBytes() {
        return budget.used();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().toCompletionStage().toCompletableFuture().join();
        }
        if (workers != null) {
            workers.close();
        }
    }
}
