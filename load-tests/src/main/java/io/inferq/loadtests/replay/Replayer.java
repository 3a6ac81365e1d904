package io.inferq.loadtests.replay;

import io.inferq.loadtests.policy.TraceRequest;
import io.inferq.loadtests.report.MetricsSampler;
import io.inferq.workers.chips.ModelCatalogue;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Sends a {@link ReplayPlan} to a {@link Target} on time (trace time ÷ {@code speedup}), follows the accepted
 * jobs to their end with a {@link Tracker}, samples the server, prints progress, and stops by itself: when
 * every accepted job has finished, or at {@code maxWallSeconds} of sending, or {@code drainTimeoutSeconds}
 * after the last send.
 *
 * <p>Prompts are rebuilt with {@link PromptText}; a prompt (and output) that would not fit the model's context
 * is shortened to fit and counted as {@code clamped}. Sending runs on the caller's thread; at most
 * {@code maxInFlightSubmits} submits are outstanding at once (if the target is slower, sends fall behind the
 * schedule and {@link Result#maxLagMs} says by how much).
 */
public final class Replayer {

    /** How to run. */
    public record Settings(double speedup, String model, int maxInFlightSubmits, double maxWallSeconds,
                           double drainTimeoutSeconds, double progressEverySeconds, long sampleMs) {
        public Settings {
            if (!(speedup > 0)) {
                throw new IllegalArgumentException("speedup must be positive, was " + speedup);
            }
            if (maxInFlightSubmits < 1) {
                throw new IllegalArgumentException("maxInFlightSubmits must be at least 1, was " + maxInFlightSubmits);
            }
        }

        public static Settings of(double speedup, String model) {
            return new Settings(speedup, model, 256, 300, 120, 5, 500);
        }

        public Settings withLimits(double maxWall, double drain) {
            return new Settings(speedup, model, maxInFlightSubmits, maxWall, drain, progressEverySeconds, sampleMs);
        }

        public Settings withProgress(double every) {
            return new Settings(speedup, model, maxInFlightSubmits, maxWallSeconds, drainTimeoutSeconds, every, sampleMs);
        }
    }

    /**
     * What a run produced.
     *
     * @param outcomes          one per request sent (skipped requests have none)
     * @param clamped           requests shortened to fit the model's context
     * @param notSent           requests of the plan not sent because the wall-time limit was reached
     * @param budget            the prompt budget the run checked against (unknown: nothing checked)
     * @param overBudgetAction  what was done with requests above it
     * @param overBudget        requests of the plan (up to where sending stopped) above the budget
     * @param skippedOverBudget of them, not sent ({@link PromptBudget.OverBudget#SKIP})
     * @param clampedToBudget   of them, shortened to the budget ({@link PromptBudget.OverBudget#CLAMP})
     * @param sendLagP99Ms      how late requests were sent against the schedule, p99 (ms)
     */
    public record Result(List<JobOutcome> outcomes, double wallSeconds, double sendSeconds, long maxLagMs, int clamped,
                         int notSent, List<MetricsSampler.Sample> samples, double speedup, String model, String targetKind,
                         PromptBudget budget, PromptBudget.OverBudget overBudgetAction, int overBudget, int skippedOverBudget,
                         int clampedToBudget, double sendLagP99Ms) {
    }

    private static final ModelCatalogue MODELS = ModelCatalogue.builtIn();

    private Replayer() {
    }

    /**
     * @param metricsUrl server base URL for {@code /metrics} sampling, or null
     */
    public static Result run(ReplayPlan plan, Settings s, Target target, Tracker tracker, String metricsUrl, PrintStream out) {
        return run(plan, s, PromptBudget.unknown(s.model(), "not checked"), PromptBudget.OverBudget.SEND, target, tracker, metricsUrl, out);
    }

    /**
     * @param budget     prompts above it are handled by {@code overBudget} and counted
     * @param metricsUrl server base URL for {@code /metrics} sampling, or null
     */
    public static Result run(ReplayPlan plan, Settings s, PromptBudget budget, PromptBudget.OverBudget overBudget, Target target,
            Tracker tracker, String metricsUrl, PrintStream out) {
        int over = 0;
        int skipped = 0;
        int clampedToBudget = 0;
        List<JobOutcome> outcomes = new ArrayList<>(plan.items().size());
        AtomicLong sent = new AtomicLong();
        AtomicLong accepted = new AtomicLong();
        AtomicLong rejected = new AtomicLong();
        Semaphore inFlight = new Semaphore(s.maxInFlightSubmits());
        int clamped = 0;
        long maxLag = 0;
        List<Double> lags = new ArrayList<>(plan.items().size());
        long t0 = System.nanoTime();
        MetricsSampler sampler = new MetricsSampler(metricsUrl, s.sampleMs(),
                () -> new MetricsSampler.ClientCounts(sent.get(), accepted.get(), rejected.get(), tracker.finished()));
        long nextProgress = t0 + (long) (s.progressEverySeconds() * 1e9);
        long wallLimit = t0 + (long) (s.maxWallSeconds() * 1e9);
        int notSent = 0;
        try {
            for (ReplayPlan.Item it : plan.items()) {
                long due = t0 + (long) (it.atMs() / s.speedup() * 1e6);
                long now;
                while ((now = System.nanoTime()) < due) {
                    TimeUnit.NANOSECONDS.sleep(Math.min(due - now, 200_000_000L));
                    nextProgress = progress(out, s, t0, nextProgress, plan, sent, accepted, rejected, tracker, sampler);
                }
                if (now > wallLimit) {
                    notSent = plan.items().size() - outcomes.size() - skipped;
                    out.printf(Locale.ROOT, "max duration %.0f s reached: %d requests not sent%n", s.maxWallSeconds(), notSent);
                    break;
                }
                maxLag = Math.max(maxLag, (now - due) / 1_000_000);
                lags.add((now - due) / 1e6);
                int outTok = outputTokens(it.request(), s.model());
                int inTok = promptWords(it.request(), s.model());
                if (inTok != it.request().inputTokens() || outTok != it.request().outputTokens()) {
                    clamped++;
                }
                if (budget.exceededBy(inTok)) {
                    over++;
                    if (overBudget == PromptBudget.OverBudget.SKIP) {
                        skipped++;
                        continue;
                    }
                    if (overBudget == PromptBudget.OverBudget.CLAMP) {
                        inTok = budget.maxWords();
                        clampedToBudget++;
                    }
                }
                String prompt = PromptText.build(inTok, it.request().blockHashes(), it.copy(), it.seq() + 1_000_003L * it.copy());
                JobOutcome o = new JobOutcome(it, inTok, outTok);
                outcomes.add(o);
                inFlight.acquire();
                o.sentNanos = System.nanoTime();
                o.sentAtMs = System.currentTimeMillis();
                sent.incrementAndGet();
                target.submit(s.model(), prompt, outTok).whenComplete((a, ex) -> {
                    try {
                        Target.Answer ans = a != null ? a : new Target.Answer(0, null, "client_error");
                        o.jobId = ans.jobId();
                        o.rejectCode = ans.errorCode();
                        o.rejectMessage = ans.errorMessage();
                        o.submitStatus = ans.status();
                        if (o.accepted() && o.jobId != null) {
                            accepted.incrementAndGet();
                            tracker.expect(o);
                        } else {
                            rejected.incrementAndGet();
                        }
                    } finally {
                        inFlight.release();
                    }
                });
                nextProgress = progress(out, s, t0, nextProgress, plan, sent, accepted, rejected, tracker, sampler);
            }
            double sendSeconds = (System.nanoTime() - t0) / 1e9;
            inFlight.acquire(s.maxInFlightSubmits()); // every submit answered
            inFlight.release(s.maxInFlightSubmits());
            long drainUntil = System.nanoTime() + (long) (s.drainTimeoutSeconds() * 1e9);
            while (tracker.finished() < accepted.get() && System.nanoTime() < drainUntil) {
                Thread.sleep(50);
                nextProgress = progress(out, s, t0, nextProgress, plan, sent, accepted, rejected, tracker, sampler);
            }
            if (tracker.finished() < accepted.get()) {
                out.printf(Locale.ROOT, "drain timeout %.0f s: %d accepted jobs not finished%n", s.drainTimeoutSeconds(),
                        accepted.get() - tracker.finished());
                printUnfinished(outcomes, metricsUrl, out);
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            sampler.close();
            progress(out, s, t0, 0, plan, sent, accepted, rejected, tracker, sampler);
            return new Result(outcomes, wall, sendSeconds, maxLag, clamped, notSent, sampler.samples(), s.speedup(), s.model(),
                    target.kind(), budget, overBudget, over, skipped, clampedToBudget,
                    io.inferq.loadtests.report.Stats.pct(lags.stream().mapToDouble(Double::doubleValue).toArray(), 0.99));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sampler.close();
            throw new IllegalStateException("replay interrupted", e);
        }
    }

    /** Longest output a request may ask for: the trace's, at most half the model's context (and 32,768). */
    public static int outputTokens(TraceRequest r, String model) {
        int ctx = MODELS.get(model).maxContextTokens();
        return Math.max(1, Math.min(r.outputTokens(), Math.min(32_768, ctx / 2)));
    }

    /**
     * The prompt's length in words (≈ tokens, see {@link PromptText}): the trace's, shortened so that the ingress'
     * estimate (a token per 4 characters, ~1.2 per word) plus the output fits the model's context.
     */
    public static int promptWords(TraceRequest r, String model) {
        int ctx = MODELS.get(model).maxContextTokens();
        return Math.max(1, Math.min(r.inputTokens(), (int) ((ctx - outputTokens(r, model) - 64) / 1.25)));
    }

    private static long progress(PrintStream out, Settings s, long t0, long nextProgress, ReplayPlan plan, AtomicLong sent,
            AtomicLong accepted, AtomicLong rejected, Tracker tracker, MetricsSampler sampler) {
        long now = System.nanoTime();
        if (now < nextProgress) {
            return nextProgress;
        }
        List<MetricsSampler.Sample> samples = sampler.samples();
        double queue = samples.isEmpty() ? Double.NaN : samples.get(samples.size() - 1).queueDepth();
        long fin = tracker.finished();
        out.printf(Locale.ROOT, "[%6.1fs] sent %d/%d  accepted %d  rejected %d  finished %d  in flight %d  queue %s%n",
                (now - t0) / 1e9, sent.get(), plan.items().size(), accepted.get(), rejected.get(), fin, accepted.get() - fin,
                Double.isNaN(queue) ? "-" : String.format(Locale.ROOT, "%.0f", queue));
        return now + (long) (s.progressEverySeconds() * 1e9);
    }

    /** How many unfinished jobs a drain timeout names. */
    static final int UNFINISHED_SHOWN = 5;

    /**
     * Names up to {@value #UNFINISHED_SHOWN} accepted jobs the tracker saw no end of, with what the server says of each
     * ({@code GET /v1/jobs/{id}} when {@code baseUrl} is given): whether the server finished them (the tracker missed
     * it) or where they stopped.
     */
    private static void printUnfinished(List<JobOutcome> outcomes, String baseUrl, PrintStream out) {
        HttpClient client = baseUrl == null ? null : HttpClient.newHttpClient();
        int shown = 0;
        for (JobOutcome o : outcomes) {
            if (!o.accepted() || o.finished() || o.jobId == null) {
                continue;
            }
            if (shown++ == UNFINISHED_SHOWN) {
                break;
            }
            String server = "";
            if (client != null) {
                try {
                    HttpRequest get = HttpRequest.newBuilder(
                            URI.create(baseUrl + "/v1/jobs/" + o.jobId)).timeout(Duration.ofSeconds(5)).build();
                    HttpResponse<String> r = client.send(get, HttpResponse.BodyHandlers.ofString());
                    String body = r.body();
                    server = " server: " + r.statusCode() + " " + (body.length() > 600 ? body.substring(0, 600) + "…" : body);
                } catch (IOException e) {
                    server = " server: " + e;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            out.printf(Locale.ROOT, "  unfinished %s%s%n", o.jobId, server);
        }
    }
}
