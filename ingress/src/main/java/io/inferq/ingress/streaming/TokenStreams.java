package io.inferq.ingress.streaming;

import io.inferq.broker.client.KafkaClientSettings;
import io.inferq.broker.client.TopicFollower;
import io.inferq.broker.topics.TopicCatalogue;
import io.vertx.core.Context;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The text of streamed jobs as the workers publish it on {@value TopicCatalogue#JOB_TOKENS}, for the callers this
 * process holds connections for. Every ingress process reads every partition from its end (no group), so whichever
 * process a caller reached sees its job's pieces.
 *
 * <p>Keeps, per job seen, the text so far of the first attempt it saw (so a {@code GET /v1/jobs/{id}/stream} that joins
 * late starts from the beginning), bounded: at most {@value #MAX_JOBS} jobs (the least recently written is dropped)
 * and {@value #MAX_CHARS} characters a job (past that, listeners get nothing more until the job's terminal event, which
 * carries the whole text). A piece out of sequence (a gap or a duplicate) or of another attempt is not forwarded, so
 * what a listener got is always a prefix of what the attempt generated.
 *
 * <p><b>Threading.</b> Records arrive on the follower's thread; each listener is called on the Vert.x context it
 * subscribed from, in order. {@link #subscribe} and {@link #unsubscribe} are thread-safe and never block on I/O.
 */
public final class TokenStreams implements AutoCloseable {
    static final int MAX_JOBS = 4096;
    static final int MAX_CHARS = 256 * 1024;

    /** One caller following a job. */
    public static final class Subscription {
        private final String jobId;
        private final Context context;
        private final Consumer<String> onText;

        private Subscription(String jobId, Context context, Consumer<String> onText) {
            this.jobId = jobId;
            this.context = context;
            this.onText = onText;
        }
    }

    private static final class JobText {
        int attempt;
        int nextSeq;
        boolean stopped;
        final StringBuilder text = new StringBuilder();
        final List<Subscription> listeners = new ArrayList<>(1);

        JobText(int attempt) {
            this.attempt = attempt;
        }
    }

    private final Map<String, JobText> jobs = new LinkedHashMap<>(64, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, JobText> eldest) {
            return size() > MAX_JOBS;
        }
    };
    private final TopicFollower follower;

    /** @param kafka null for a hub fed only through {@link #accept} (tests) */
    public TokenStreams(KafkaClientSettings kafka) {
        this.follower = kafka == null ? null
                : new TopicFollower("job-tokens", kafka, TopicCatalogue.JOB_TOKENS, TopicFollower.Start.END, this::accept);
    }

    public void start() {
        if (follower != null) {
            follower.start();
        }
    }

    /** Takes one record of {@value TopicCatalogue#JOB_TOKENS}. Any one thread at a time (the follower's). */
    public void accept(ConsumerRecord<String, byte[]> record) {
        JsonObject piece = new JsonObject(new String(record.value(), StandardCharsets.UTF_8));
        String jobId = piece.getString("job_id");
        String text = piece.getString("text");
        int attempt = piece.getInteger("attempt", 0);
        int seq = piece.getInteger("seq", 0);
        if (jobId == null || text == null || text.isEmpty()) {
            return;
        }
        List<Subscription> to;
        synchronized (jobs) {
            JobText job = jobs.get(jobId);
            if (job == null) {
                if (seq != 0) {
                    return; // joined mid-way (the process started meanwhile): its start is not known here
                }
                job = new JobText(attempt);
                jobs.put(jobId, job);
            }
            if (job.attempt < 0 && seq == 0) {
                job.attempt = attempt; // a listener was waiting for the first piece
            }
            if (job.attempt != attempt || job.stopped || seq < job.nextSeq) {
                return;
            }
            if (seq > job.nextSeq || job.text.length() + text.length() > MAX_CHARS) {
                job.stopped = true; // a gap: what follows is no longer a continuation of what listeners have
                return;
            }
            job.nextSeq++;
            job.text.append(text);
            to = job.listeners.isEmpty() ? List.of() : List.copyOf(job.listeners);
        }
        for (Subscription s : to) {
            s.context.runOnContext(v -> s.onText.accept(text));
        }
    }

    /**
     * Follows a job's text from now on; call on the caller's Vert.x context.
     *
     * @param onText called on {@code context} with each later piece
     * @param sofar  receives, at once, the text the job generated before (possibly empty)
     */
    public Subscription subscribe(String jobId, Context context, Consumer<String> sofar, Consumer<String> onText) {
        Subscription s = new Subscription(jobId, context, onText);
        String before;
        synchronized (jobs) {
            JobText job = jobs.computeIfAbsent(jobId, k -> new JobText(-1));
            job.listeners.add(s);
            before = job.text.toString();
        }
        sofar.accept(before);
        return s;
    }

    /** Stops a subscription (the caller went away, or its job ended). */
    public void unsubscribe(Subscription s) {
        synchronized (jobs) {
            JobText job = jobs.get(s.jobId);
            if (job != null) {
                job.listeners.remove(s);
            }
        }
    }

    /** A job ended: its text is no longer needed once nobody listens. */
    public void finished(String jobId) {
        synchronized (jobs) {
            JobText job = jobs.get(jobId);
            if (job != null && job.listeners.isEmpty()) {
                jobs.remove(jobId);
            }
        }
    }

    @Override
    public void close() {
        if (follower != null) {
            follower.close();
        }
    }
}
