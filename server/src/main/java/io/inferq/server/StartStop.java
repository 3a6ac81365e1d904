package io.inferq.server;

import io.inferq.server.config.ConfigException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The two helpers every wiring unit starts and stops with: wait for a Vert.x step, and run a shutdown step that may fail. */
final class StartStop {
    private static final Logger LOG = LoggerFactory.getLogger(InferqServer.class);

    private StartStop() {
    }

    interface Step {
        void run() throws Exception;
    }

    /** Blocks (off the event loop: start and close run on the caller's thread) for at most 60 s. */
    static <T> T await(io.vertx.core.Future<T> f, String what) {
        try {
            return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConfigException("interrupted while starting " + what, e);
        } catch (Exception e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            throw new ConfigException(what + " failed to start: " + c.getMessage(), c);
        }
    }

    /** Runs one shutdown step; its failure is logged, and the shutdown goes on with the next step. */
    static void quietly(Step step) {
        try {
            step.run();
        } catch (Exception e) {
            LOG.warn("shutdown step failed: {}", e.toString());
        }
    }
}
