package io.inferq.ingress.streaming;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What a listener of a job's text gets: pieces in order, the text so far on joining, never a gap or another attempt. */
class TokenStreamsTest {
    static Vertx vertx;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() {
        vertx.close();
    }

    private static ConsumerRecord<String, byte[]> piece(String job, int attempt, int seq, String text) {
        return new ConsumerRecord<>("inferq.job-tokens", 0, seq, job, new JsonObject().put("job_id", job).put("attempt", attempt)
                .put("seq", seq).put("text", text).encode().getBytes(StandardCharsets.UTF_8));
    }

    private static void awaitSize(List<String> got, int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (got.size() < n && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
    }

    @Test
    void piecesInOrderFromTheTextSoFar() {
        TokenStreams hub = new TokenStreams(null);
        Context ctx = vertx.getOrCreateContext();
        List<String> early = new CopyOnWriteArrayList<>();
        hub.subscribe("j1", ctx, s -> { }, early::add);
        hub.accept(piece("j1", 0, 0, "Hel"));
        hub.accept(piece("j1", 0, 1, "lo"));
        hub.accept(piece("j1", 0, 1, "lo")); // duplicate: ignored
        hub.accept(piece("j1", 1, 2, "XX")); // another attempt: ignored
        awaitSize(early, 2);
        List<String> late = new CopyOnWriteArrayList<>();
        StringBuilder sofar = new StringBuilder();
        hub.subscribe("j1", ctx, sofar::append, late::add);
        assertThat(sofar.toString()).isEqualTo("Hello");
        hub.accept(piece("j1", 0, 3, "!!")); // a gap (2 is missing): nothing more is forwarded
        hub.accept(piece("j1", 0, 2, " world"));
        hub.accept(piece("j2", 0, 0, "other job"));
        assertThat(early).containsExactly("Hel", "lo");
        assertThat(late).isEmpty();
    }
}
