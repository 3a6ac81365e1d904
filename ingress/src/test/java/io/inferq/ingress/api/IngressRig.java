package io.inferq.ingress.api;

import io.inferq.broker.avro.JobEvent;
import io.inferq.job.InMemoryTerminalClaims;
import io.inferq.job.JobStatus;
import io.inferq.broker.origin.TrustedOrigin;
import io.inferq.broker.serde.AvroSerde;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.ingress.HttpLimits;
import io.inferq.ingress.IngressServer;
import io.inferq.ingress.OperatorAccess;
import io.inferq.ingress.tenants.SubmitRateLimiter;
import io.inferq.ingress.tenants.Tenant;
import io.inferq.ingress.tenants.TenantDirectory;
import io.inferq.ingress.view.JobView;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The real HTTP server and job routes over fakes: a {@link MockProducer} (every record "written" at once), an in-memory
 * job view, in-memory terminal claims, two tenants ({@code acme}, {@code globex}) and the operator key
 * {@value #OPERATOR_KEY}. Fast (no broker, no Hazelcast): for tests of the HTTP edge. Close it.
 */
final class IngressRig implements AutoCloseable {
    static final String ACME = "Bearer acme-key";
    static final String GLOBEX = "Bearer globex-key";
    static final String OPERATOR_KEY = "op-secret-key";
    static final String MODEL = "m";
    static final String OK_BODY = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final AvroSerde<JobEvent> EVENTS = new AvroSerde<>(JobEvent.class);

    final Vertx vertx = Vertx.vertx();
    final MockProducer<String, byte[]> mock;
    private volatile boolean closed;
    final MemoryJobView view = new MemoryJobView();
    final InMemoryTerminalClaims claims = new InMemoryTerminalClaims();
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    final IngressServer server;
    final JobsApi api;

    /** A rig whose producer is {@code wrap(mock)} and whose HTTP server has {@code limits}. */
    IngressRig(HttpLimits limits, Function<MockProducer<String, byte[]>, Producer<String, byte[]>> wrap) {
        this(limits, wrap, true);
    }

    /**
     * @param asyncAcks whether sends are acknowledged later from another thread (as Kafka's I/O thread does) rather than
     *                  inside {@code send}
     */
    IngressRig(HttpLimits limits, Function<MockProducer<String, byte[]>, Producer<String, byte[]>> wrap, boolean asyncAcks) {
        mock = new MockProducer<>(!asyncAcks, null, new StringSerializer(), new ByteArraySerializer());
        if (asyncAcks) {
            Thread acker = new Thread(this::ackLoop, "rig-kafka-acks");
            acker.setDaemon(true);
            acker.start();
        }
        List<ServedModel> served = List.of(new ServedModel(MODEL, "inferq", 4096, 2048, 4096, List.of("p")));
        Tenant acme = new Tenant("acme", List.of("acme-key"), 1000, 4096, 10_000, List.of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), null);
        Tenant globex = new Tenant("globex", List.of("globex-key"), 1000, 1 << 20, 10_000,
                List.of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), null);
        TenantDirectory directory = new TenantDirectory(List.of(acme, globex), null);
        api = new JobsApi(vertx, directory, new SubmitRateLimiter(java.time.Clock.systemUTC()), new JobSubmissionParser(served), view, claims,
                wrap.apply(mock), Clock.systemUTC(), registry, new io.inferq.ingress.webhooks.WebhookTargetPolicy(false, List.of())::check, TrustedOrigin.withSecret(new byte[32]), () -> true);
        server = new IngressServer("127.0.0.1", 0, 1 << 20, limits, List.of(api::mount), served, Map::of,
                () -> "# metrics\ninferq_x{tenant=\"acme\"} 1\n",
                new OperatorAccess(OPERATOR_KEY, true), registry);
        await(vertx.deployVerticle(server));
    }

    IngressRig() {
        this(HttpLimits.DEFAULTS, p -> p);
    }

    private void ackLoop() {
        while (!closed) {
            boolean any = false;
            while (mock.completeNext()) {
                any = true;
            }
            if (!any) {
                java.util.concurrent.locks.LockSupport.parkNanos(500_000);
            }
        }
    }

    int port() {
        return server.actualPort();
    }

    HttpResponse<String> http(String method, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port() + path)).timeout(Duration.ofSeconds(20))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        try {
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<String> post(String body, String auth, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = "Authorization";
        all[1] = auth;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return http("POST", "/v1/jobs", body, all);
    }

    /** @return request records written (a job is created exactly when one is) */
    synchronized List<ProducerRecord<String, byte[]>> requestRecords() {
        List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
        for (ProducerRecord<String, byte[]> r : mock.history()) {
            if (r.topic().equals(TopicCatalogue.REQUESTS) || r.topic().equals(TopicCatalogue.REQUESTS_BATCH)) {
                out.add(r);
            }
        }
        return out;
    }

    /** Applies every job event written so far to the fake view (what the materializer does in production). */
    void materialize() {
        for (ProducerRecord<String, byte[]> r : mock.history()) {
            if (r.topic().equals(TopicCatalogue.JOB_EVENTS)) {
                view.applyAll(List.of(EVENTS.decode(r.value())));
            }
        }
    }

    static <T> T await(io.vertx.core.Future<T> f) {
        try {
            return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        closed = true;
        await(vertx.close());
    }

    /** A job view in memory: the latest event per job (terminal states stick), idempotency keys, counts. */
    static final class MemoryJobView implements JobView {
        private final Map<String, JobEvent> jobs = new ConcurrentHashMap<>();
        private final Map<String, IdempotencyRecord> keys = new ConcurrentHashMap<>();
        final AtomicInteger reads = new AtomicInteger();

        @Override
        public JobEvent get(String jobId) {
            reads.incrementAndGet();
            return jobs.get(jobId);
        }

        @Override
        public synchronized List<JobEvent> applyAll(List<JobEvent> events) {
            List<JobEvent> changed = new ArrayList<>();
            for (JobEvent e : events) {
                JobEvent prev = jobs.get(e.getJobId());
                if (prev != null && JobStatus.fromWire(prev.getStatus()).isTerminal()) {
                    continue;
                }
                jobs.put(e.getJobId(), e);
                changed.add(e);
            }
            return changed;
        }

        @Override
        public Page list(String tenant, JobStatus status, int limit, String after) {
            List<JobEvent> mine = new ArrayList<>(jobs.values().stream().filter(j -> j.getTenant().equals(tenant))
                    .filter(j -> status == null || JobStatus.fromWire(j.getStatus()) == status)
                    .sorted(Comparator.comparing(JobEvent::getJobId)).toList());
            return new Page(mine.subList(0, Math.min(limit, mine.size())), mine.size() > limit);
        }

        @Override
        public long activeJobs(String tenant) {
            return jobs.values().stream().filter(j -> j.getTenant().equals(tenant))
                    .filter(j -> !JobStatus.fromWire(j.getStatus()).isTerminal()).count();
        }

        @Override
        public IdempotencyRecord reserve(String tenant, String key, String jobId, String requestHash) {
            return keys.putIfAbsent(tenant + "\u0000" + key, new IdempotencyRecord(jobId, requestHash));
        }

        @Override
        public void release(String tenant, String key, String jobId) {
            keys.remove(tenant + "\u0000" + key);
        }
    }
}
