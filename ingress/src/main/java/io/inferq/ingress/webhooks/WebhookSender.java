package io.inferq.ingress.webhooks;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.ext.web.codec.BodyCodec;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeoutException;

/**
 * Makes one signed HTTP attempt: resolves and checks the target on a worker thread
 * ({@link WebhookTargetPolicy#resolve}), then POSTs to the checked address with the URL's host as Host header
 * and TLS server name. Redirects are not followed; the response body is discarded unread. Every callback runs
 * on the given context; nothing here blocks an event loop.
 */
final class WebhookSender implements AutoCloseable {
    private final Vertx vertx;
    private final Context context;
    private final WebClient client;
    private final WebhookTargetPolicy policy;
    private final long timeoutMs;
    private final Clock clock;

    WebhookSender(Vertx vertx, Context context, WebhookTargetPolicy policy, WebhookSettings settings, Clock clock) {
        this.vertx = vertx;
        this.context = context;
        this.policy = policy;
        this.timeoutMs = settings.timeout().toMillis();
        this.clock = clock;
        WebClientOptions options = new WebClientOptions()
                .setFollowRedirects(false)
                .setUserAgent("inferq-webhooks/1")
                .setConnectTimeout((int) Math.min(Integer.MAX_VALUE, timeoutMs))
                .setKeepAlive(true)
                .setVerifyHost(true);
        this.client = WebClient.create(vertx, options, new PoolOptions().setHttp1MaxSize(Math.max(1, settings.maxConcurrent())));
    }

    /** @param secrets the tenant's {@code whsec_} secrets, current first */
    Future<AttemptOutcome> send(Delivery d, List<String> secrets) {
        Promise<AttemptOutcome> result = Promise.promise();
        context.<WebhookTargetPolicy.Resolution>executeBlocking(() -> policy.resolve(d.url()), false).onComplete(ar -> {
            if (ar.failed()) {
                result.tryComplete(new AttemptOutcome.Retryable("target check failed: " + ar.cause(), 0, 0, "dns"));
                return;
            }
            WebhookTargetPolicy.Resolution r = ar.result();
            if (r instanceof WebhookTargetPolicy.Resolution.Refused refused) {
                result.tryComplete(new AttemptOutcome.Refused(refused.reason()));
            } else if (r instanceof WebhookTargetPolicy.Resolution.Unresolvable u) {
                result.tryComplete(new AttemptOutcome.Retryable(u.reason(), 0, 0, "dns"));
            } else {
                post(d, secrets, (WebhookTargetPolicy.Resolution.Resolved) r, result);
            }
        });
        return result.future();
    }

    private void post(Delivery d, List<String> secrets, WebhookTargetPolicy.Resolution.Resolved target,
            Promise<AttemptOutcome> result) {
        URI uri = URI.create(d.url());
        boolean https = uri.getScheme().toLowerCase(Locale.ROOT).equals("https");
        int port = uri.getPort() != -1 ? uri.getPort() : https ? 443 : 80;
        String path = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        byte[] body = d.payload().getBytes(StandardCharsets.UTF_8);
        long ts = clock.millis() / 1000;
        String signature;
        try {
            signature = new WebhookSigner(secrets).sign(d.id(), ts, body);
        } catch (IllegalArgumentException e) {
            result.tryComplete(new AttemptOutcome.Refused("tenant " + d.tenant() + " webhook secret unusable: " + e.getMessage()));
            return;
        }
        // the overall limit, also when a receiver trickles bytes and the idle timeout never fires
        long guard = vertx.setTimer(timeoutMs + 50, t -> result.tryComplete(timeout()));
        SocketAddress server = SocketAddress.inetSocketAddress(new InetSocketAddress(target.address(), port));
        client.request(HttpMethod.POST, server, port, uri.getHost(), path)
                .ssl(https)
                .followRedirects(false)
                .timeout(timeoutMs)
                .putHeader("content-type", "application/json")
                .putHeader(WebhookSigner.ID_HEADER, d.id())
                .putHeader(WebhookSigner.TIMESTAMP_HEADER, Long.toString(ts))
                .putHeader(WebhookSigner.SIGNATURE_HEADER, signature)
                .as(BodyCodec.none())
                .sendBuffer(Buffer.buffer(body))
                .onComplete(ar -> {
                    vertx.cancelTimer(guard);
                    if (ar.failed()) {
                        Throwable c = ar.cause();
                        result.tryComplete(c instanceof TimeoutException || String.valueOf(c.getMessage()).contains("timeout")
                                ? timeout()
                                : new AttemptOutcome.Retryable("connection error: " + c, 0, 0, "connection"));
                        return;
                    }
                    int status = ar.result().statusCode();
                    if (status >= 200 && status < 300) {
                        result.tryComplete(new AttemptOutcome.Delivered(status));
                    } else if (status == 410) {
                        result.tryComplete(new AttemptOutcome.Gone("receiver answered 410 Gone"));
                    } else if (status >= 300 && status < 400) {
                        String loc = ar.result().getHeader("location");
                        result.tryComplete(new AttemptOutcome.Retryable("redirect " + status + " not followed"
                                + (loc == null ? "" : " (location " + loc + ")"), status, 0, "redirect"));
                    } else {
                        long retryAfter = RetrySchedule.parseRetryAfter(ar.result().getHeader("retry-after"), clock.millis());
                        result.tryComplete(new AttemptOutcome.Retryable("receiver answered HTTP " + status, status, retryAfter, "status"));
                    }
                });
    }

    private AttemptOutcome timeout() {
        return new AttemptOutcome.Retryable("no answer within " + timeoutMs + " ms (timeout)", 0, 0, "timeout");
    }

    @Override
    public void close() {
        client.close();
    }
}
