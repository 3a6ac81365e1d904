package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.view.JobView;
import io.inferq.job.JobSnapshots;
import io.inferq.job.JobStatus;
import io.inferq.job.TerminalClaims;
import io.inferq.job.outcome.TerminalOutcomeWriter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.ext.web.RoutingContext;
import java.time.Clock;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /v1/jobs/{id}/cancel}. A cancel claims the job's terminal state ({@link TerminalClaims}) and takes the
 * claim for its own write (an atomic hand-over, so of concurrent cancels exactly one writes and answers {@code 200})
 * before it writes the {@code cancelled} event and result ({@link TerminalOutcomeWriter}), then marks the claim
 * written; so a repeated cancel answers {@code 409} even before the status view has caught up, and writes nothing
 * twice. If the write fails the claim stands (the job never runs), the call answers {@code 503}, and the next cancel
 * writes the event again. Handlers run on the event loop; claims and view reads go through {@code executeBlocking},
 * Kafka sends through the {@link RecordSender}.
 */
final class JobCancellation {
    private static final Logger LOG = LoggerFactory.getLogger(JobCancellation.class);
    /** Owner of a cancel's claim until its event and result are written; then {@link #WRITTEN_CANCEL_OWNER}. */
    static final String CANCEL_OWNER = "api";
    static final String WRITTEN_CANCEL_OWNER = "api:written";
    /**
     * Owner of a cancel's claim while one call writes its event and result: {@code api:writing:<epoch ms>:<nonce>}. Only
     * that call writes; a concurrent repeat answers 409. A call that fails hands the claim back to {@link #CANCEL_OWNER};
     * one that vanished (a crash) leaves it, and a cancel after {@link #STALE_CANCEL_WRITE_MS} takes it over.
     */
    static final String WRITING_CANCEL_PREFIX = "api:writing:";
    static final long STALE_CANCEL_WRITE_MS = 30_000;
    private static final TerminalClaims.Claim UNWRITTEN_CANCEL = new TerminalClaims.Claim(JobStatus.CANCELLED, CANCEL_OWNER);

    private final Vertx vertx;
    private final JobView view;
    private final TerminalClaims claims;
    private final RecordSender sender;
    private final Clock clock;
    private final MeterRegistry registry;

    JobCancellation(Vertx vertx, JobView view, TerminalClaims claims, RecordSender sender, Clock clock, MeterRegistry registry) {
        this.vertx = vertx;
        this.view = view;
        this.claims = claims;
        this.sender = sender;
        this.clock = clock;
        this.registry = registry;
    }

    private record CancelOutcome(ApiError error, JobEvent cancelled, TerminalClaims.Claim writing) {
    }

    /** Whether {@code claim} is a cancel being written by a call that started long enough ago to be presumed gone. */
    private boolean staleWrite(TerminalClaims.Claim claim) {
        if (claim.status() != JobStatus.CANCELLED || !claim.owner().startsWith(WRITING_CANCEL_PREFIX)) {
            return false;
        }
        String rest = claim.owner().substring(WRITING_CANCEL_PREFIX.length());
        int colon = rest.indexOf(':');
        try {
            return clock.millis() - Long.parseLong(colon < 0 ? rest : rest.substring(0, colon)) > STALE_CANCEL_WRITE_MS;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Cancels job {@code id} of {@code tenant} exactly as {@code POST /v1/jobs/{id}/cancel} does and answers {@code ctx}
     * (the operator console calls it with the job's own tenant). Event loop.
     */
    void cancelAs(RoutingContext ctx, Tenant tenant, String id) {
        Context context = vertx.getOrCreateContext();
        vertx.executeBlocking(() -> {
            JobEvent job = view.get(id);
            if (job == null || !job.getTenant().equals(tenant.id())) {
                return new CancelOutcome(ApiError.notFound("no job '" + id + "'"), null, null);
            }
            JobStatus current = JobStatus.fromWire(job.getStatus());
            if (current.isTerminal()) {
                return new CancelOutcome(ApiError.conflict("job_already_finished", "job " + id + " is already " + current.apiName()), null,
                        null);
            }
            TerminalClaims.Claim claim = claims.claim(id, JobStatus.CANCELLED, CANCEL_OWNER);
            // exactly one call writes: the one that moves the unwritten (or abandoned) claim to its own writing owner
            TerminalClaims.Claim writing = new TerminalClaims.Claim(JobStatus.CANCELLED, WRITING_CANCEL_PREFIX + clock.millis() + ":"
                    + UUID.randomUUID());
            boolean mine = (claim.equals(UNWRITTEN_CANCEL) || staleWrite(claim)) && claims.transfer(id, claim, writing.owner());
            if (!mine) {
                // another outcome won, another cancel is writing, or an earlier one wrote and the view has not caught up
                return new CancelOutcome(ApiError.conflict("job_already_finished", "job " + id + " is already " + claim.status().apiName()),
                        null, null);
            }
            JobEvent cancelled = JobSnapshots.withError(JobSnapshots.advance(job, JobStatus.CANCELLED, clock.millis()),
                    "invalid_request_error", "cancelled", "the job was cancelled through the API");
            return new CancelOutcome(null, cancelled, writing);
        }, false).onComplete(ar -> {
            if (ar.failed()) {
                reject(ctx, ApiError.unavailable("state_unavailable", "the job state store is unavailable; try again", 1000));
                return;
            }
            if (ar.result().error() != null) {
                reject(ctx, ar.result().error());
                return;
            }
            JobEvent cancelled = ar.result().cancelled();
            TerminalClaims.Claim writing = ar.result().writing();
            publishTerminal(cancelled).onComplete(w -> context.runOnContext(v -> {
                if (w.failed()) {
                    // the claim stands, so the job never runs; handed back, so the next cancel call writes the event
                    vertx.executeBlocking(() -> claims.transfer(id, writing, CANCEL_OWNER), false).onComplete(t ->
                            reject(ctx, ApiError.unavailable("queue_unavailable", "the cancellation is recorded but its event could "
                                    + "not be written yet; call cancel again", 1000)));
                    return;
                }
                vertx.executeBlocking(() -> claims.transfer(id, writing, WRITTEN_CANCEL_OWNER), false).onComplete(t -> {
                    if (t.failed() || !t.result()) {
                        // the event is written; only a repeated cancel would now write a second (de-duplicable) result
                        LOG.warn("cancel of {}: written, but the claim could not be marked written", id, t.cause());
                    }
                    ctx.response().putHeader("Content-Type", "application/json").end(JobJson.toJson(cancelled, Integer.MAX_VALUE).encode());
                });
            }));
        });
    }

    /**
     * Writes a cancel's event and result ({@link TerminalOutcomeWriter}: once, a refused reply topic falling back to
     * {@code inferq.results}); fails if either is not written, on the caller's context.
     */
    private Future<Void> publishTerminal(JobEvent terminal) {
        // a reply topic's metadata may not be known yet: the send can block, so never on the event loop
        Context context = vertx.getOrCreateContext();
        TerminalOutcomeWriter writer = new TerminalOutcomeWriter(TerminalOutcomeWriter.Transport.of(
                r -> sender.send(r, context).toCompletionStage(), task -> context.runOnContext(v -> task.run()),
                (ms, task) -> vertx.setTimer(ms, t -> task.run())), TerminalOutcomeWriter.Policy.ONCE, null, null);
        return Future.fromCompletionStage(writer.write(terminal), context)
                .compose(w -> w.complete() ? Future.succeededFuture() : Future.failedFuture(w.givenUp().get(0).cause()));
    }
    private void reject(RoutingContext ctx, ApiError error) {
        HttpErrors.reject(registry, ctx, error);
    }
}
