package io.inferq.broker.client;

import java.time.Duration;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one consumer thread: a Kafka {@link Consumer} owned by one daemon thread, made by an injected factory, driven by
 * a subclass's {@link #session}, and made again after a failure.
 *
 * <p><b>Life.</b> {@link #start} starts the thread. Each session takes a fresh consumer from the factory, runs
 * {@link #session} until it returns or throws, and closes the consumer. A session that throws is logged
 * ({@link #onFailure}) and followed by a new one after the restart delay (1 s unless told otherwise); a
 * {@link WakeupException} while closing, or a session that returns while closing, ends the thread. {@link #close}
 * stops the loop, wakes the consumer and waits (bounded) for the thread to end; it blocks, so never call it on an
 * event loop.
 *
 * <p><b>Threading.</b> The consumer is touched only by the thread (except {@link Consumer#wakeup}, which is
 * thread-safe). Subclass hooks run on the thread; callbacks they make must hand off at once.
 *
 * <p><b>Testing.</b> The factory is a {@link Supplier}, so unit tests pass Kafka's {@code MockConsumer} where a full
 * broker is not the point; {@link #kafkaConsumers} makes the real ones.
 */
public abstract class ConsumerThread implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ConsumerThread.class);

    /** The default wait before a failed consumer is made again. */
    public static final Duration RESTART_DELAY = Duration.ofSeconds(1);

    private final String name;
    private final Supplier<? extends Consumer<String, byte[]>> consumers;
    private final long restartDelayMs;
    private final long joinTimeoutMs;
    private final AtomicBoolean running = new AtomicBoolean();
    private volatile Consumer<String, byte[]> consumer;
    private Thread thread;

    /**
     * @param name         thread name and log prefix
     * @param consumers    makes one consumer per session (string keys, byte values)
     * @param restartDelay wait after a failed session before the next one; not negative
     * @param joinTimeout  how long {@link #close} waits for the thread
     */
    protected ConsumerThread(String name, Supplier<? extends Consumer<String, byte[]>> consumers, Duration restartDelay,
            Duration joinTimeout) {
        this.name = Objects.requireNonNull(name, "name");
        this.consumers = Objects.requireNonNull(consumers, "consumer factory");
        if (restartDelay.isNegative()) {
            throw new IllegalArgumentException(name + ": restart delay must not be negative, was " + restartDelay);
        }
        this.restartDelayMs = restartDelay.toMillis();
        this.joinTimeoutMs = joinTimeout.toMillis();
    }

    /** A factory of real consumers with these properties (string keys, byte-array values). */
    public static Supplier<Consumer<String, byte[]>> kafkaConsumers(Properties props) {
        Properties copy = new Properties();
        copy.putAll(props);
        return () -> new KafkaConsumer<>(copy, new StringDeserializer(), new ByteArrayDeserializer());
    }

    /** Starts the thread; a second call does nothing. */
    public synchronized void start() {
        if (!running.compareAndSet(false, true)) {
            return;
        }
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** @return the thread name and log prefix */
    public final String name() {
        return name;
    }

    /** @return true from {@link #start} until {@link #close} */
    protected final boolean running() {
        return running.get();
    }

    /**
     * Runs once on the thread before the first session. @return false to end the thread without a session (closed
     * meanwhile, for example)
     */
    protected boolean beforeFirstSession() {
        return true;
    }

    /**
     * One consumer's life: set it up and poll while {@link #running()}. Throw to have the consumer closed and a new
     * one made after the restart delay.
     */
    protected abstract void session(Consumer<String, byte[]> consumer);

    /** Called on the thread after a session failed (not while closing), before the restart delay. Logs by default. */
    protected void onFailure(RuntimeException e) {
        LOG.error("{}: consumer failed; starting a new one in {} ms", name, restartDelayMs, e);
    }

    /** Called by {@link #close} after the thread ended (or the wait for it timed out). */
    protected void afterClose() {
    }

    private void run() {
        if (!beforeFirstSession()) {
            return;
        }
        while (running.get()) {
            try (Consumer<String, byte[]> c = consumers.get()) {
                consumer = c;
                if (!running.get()) {
                    return; // closed while the consumer was being made: close() could not wake it
                }
                session(c);
            } catch (WakeupException e) {
                // close(), or a wakeup the session did not expect: the loop condition decides
            } catch (RuntimeException e) {
                if (!running.get()) {
                    break;
                }
                onFailure(e);
                if (!pauseWhileRunning(restartDelayMs)) {
                    return;
                }
            } finally {
                consumer = null;
            }
        }
    }

    /**
     * Waits on the thread (never an event loop) in short steps, so that a close is seen at once.
     *
     * @return false when closed or interrupted meanwhile
     */
    protected final boolean pauseWhileRunning(long ms) {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        try {
            while (running.get()) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return true;
                }
                Thread.sleep(Math.max(1, Math.min(50, TimeUnit.NANOSECONDS.toMillis(left))));
            }
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Wakes the current consumer out of a blocking call (it throws {@link WakeupException}). Any thread. */
    protected final void wakeup() {
        Consumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    /** Stops the loop, wakes the consumer and waits for the thread to end. Blocking; idempotent. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            running.set(false);
            t = thread;
        }
        wakeup();
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(joinTimeoutMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        afterClose();
    }
}
