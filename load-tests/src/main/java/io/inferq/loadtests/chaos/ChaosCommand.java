package io.inferq.loadtests.chaos;

import io.inferq.broker.embedded.FreePorts;
import io.inferq.broker.topics.TopicCatalogue;
import io.inferq.loadtests.Flags;
import io.inferq.loadtests.LoadCommand;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * {@code chaos}: runs the real server as a child process ({@code InferqCommand serve}, embedded broker and Hazelcast
 * member, an {@code openai-http} pool on an in-process fake engine), puts steady load on it over HTTP (jobs with
 * webhooks to an in-process receiver) and Kafka (requests with a reply topic), and injects faults one after another:
 * kill -9 of the whole server (restarted at once on the same data directory), SIGTERM, a webhook receiver that fails,
 * hangs, answers 410 or vanishes and comes back, and an engine that answers 429, 500 or times out. Then it drains and
 * proves, from Kafka (read_committed) and the receiver, that every accepted job reached exactly one terminal state,
 * every Kafka request has exactly one committed result, and every terminal job's webhook was delivered or
 * dead-lettered, with one {@code webhook-id} per job. Prints one row per fault; exit code 0 only when all hold.
 *
 * <p>{@code --split}: the broker ({@code InferqCommand broker}), the ingress, the dispatcher and the workers each run as
 * a process of their own ({@code serve --roles …} against that broker as an external Kafka, and against a Hazelcast
 * member in this process as the external cluster), and each is killed alone.
 */
public final class ChaosCommand {
    static final List<String> ALL_FAULTS = List.of("kill", "sigterm", "hazelcast-member", "webhook-fail", "webhook-hang",
            "webhook-410", "webhook-vanish", "engine-429", "engine-500", "engine-timeout");
    /** Split mode ({@code --split}): the broker and each role in a process of its own, each killed alone. */
    static final List<String> SPLIT_KILLS = List.of("kill-ingress", "kill-dispatcher", "kill-workers", "kill-broker");
    /** Faults that need the whole server in one process. */
    static final List<String> WHOLE_SERVER_ONLY = List.of("kill", "sigterm");
    static final String REPLY_TOPIC = "chaos.replies";
    static final String MODEL = "deepseek-v2-lite";

    private ChaosCommand() {
    }

    public static int run(Flags f, PrintStream out) {
        boolean split = f.bool("split");
        boolean cds = f.bool("cds");
        int kills = f.intValue("kills", split ? 1 : 10);
        List<String> faults = List.of(f.string("faults", String.join(",", split ? SPLIT_KILLS : ALL_FAULTS)).split(","));
        double phaseS = f.positive("phase-s", 8);
        double faultS = f.positive("fault-s", 4);
        double httpRate = f.doubleValue("http-rate", 5);
        double kafkaRate = f.doubleValue("kafka-rate", 5);
        double batchRate = f.doubleValue("batch-rate", 0.25);
        int batchLines = f.intValue("batch-lines", 5);
        double drainS = f.positive("drain-s", 240);
        String heap = f.string("heap", "768m");
        Path dir = LoadCommand.outDir(f, "chaos");
        f.rejectUnknown();
        // the load's Kafka clients warn on every reconnect while the server is down: expected here, and noise
        org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.kafka", org.apache.logging.log4j.Level.ERROR);
        // so do the Hazelcast members this process runs (split mode, hazelcast-member) when a killed client's connection resets
        org.apache.logging.log4j.core.config.Configurator.setLevel("com.hazelcast", org.apache.logging.log4j.Level.ERROR);
        for (String fault : faults) {
            if (split ? !SPLIT_KILLS.contains(fault) && (!ALL_FAULTS.contains(fault) || WHOLE_SERVER_ONLY.contains(fault))
                    : !ALL_FAULTS.contains(fault)) {
                List<String> known = new ArrayList<>(split ? SPLIT_KILLS : ALL_FAULTS);
                if (split) {
                    ALL_FAULTS.stream().filter(a -> !WHOLE_SERVER_ONLY.contains(a)).forEach(known::add);
                }
                throw new IllegalArgumentException("--faults: unknown fault '" + fault + "'" + (split ? " in split mode" : "")
                        + "; known: " + known);
            }
        }
        List<String> schedule = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        for (String fault : faults) {
            boolean repeated = fault.equals("kill") || SPLIT_KILLS.contains(fault);
            int times = repeated ? kills : 1;
            for (int i = 0; i < times; i++) {
                int n = seen.merge(fault, 1, Integer::sum);
                schedule.add(fault.equals("kill") ? "kill -9 #" + n : repeated ? fault + " #" + n : fault);
            }
        }
        try {
            Run run = new Run(dir, schedule, phaseS, faultS, httpRate, kafkaRate, drainS, heap, out).batches(batchRate, batchLines);
            run.split = split;
            run.cds = cds;
            return run.execute();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (Exception e) {
            throw new IllegalStateException("chaos run failed: " + e, e);
        }
    }

    private static final class Run {
        final Path dir;
        final List<String> schedule;
        final long phaseMs;
        final long faultMs;
        final double httpRate;
        final double kafkaRate;
        final long drainMs;
        final String heap;
        final PrintStream out;
        final AtomicInteger phase = new AtomicInteger();
        final AtomicReference<String> hookPath = new AtomicReference<>("/hook");
        final List<Double> recoverS = new ArrayList<>();
        /** Per fault: seconds from the fault to the first webhook delivered after it (process faults), or -1. */
        final List<Double> firstDoneS = new ArrayList<>();
        int hazelcastPort;
        boolean split;
        boolean cds;
        /** Split mode: the broker, dispatcher and workers processes (the ingress is the run's {@code server}). */
        final Map<String, ChaosServer> roles = new LinkedHashMap<>();
        com.hazelcast.core.HazelcastInstance splitMember;
        double batchRate;
        int batchLines;
        String clusterName;

        Run(Path dir, List<String> schedule, double phaseS, double faultS, double httpRate, double kafkaRate, double drainS,
                String heap, PrintStream out) {
            this.dir = dir;
            this.schedule = schedule;
            this.phaseMs = (long) (phaseS * 1000);
            this.faultMs = (long) (faultS * 1000);
            this.httpRate = httpRate;
            this.kafkaRate = kafkaRate;
            this.drainMs = (long) (drainS * 1000);
            this.heap = heap;
            this.out = out;
        }

        Run batches(double rate, int lines) {
            this.batchRate = rate;
            this.batchLines = lines;
            return this;
        }

        int execute() throws Exception {
            Files.createDirectories(dir);
            int http = freePort();
            int kafka = freePort();
            int controller = freePort();
            int hazelcast = freePort();
            int engine = freePort();
            int receiver = freePort();
            Path config = dir.resolve("inferq-chaos.yaml");
            hazelcastPort = hazelcast;
            clusterName = "inferq-chaos-" + ProcessHandle.current().pid();
            Files.writeString(config, config(dir.resolve("data"), http, kafka, controller, hazelcast, engine), StandardCharsets.UTF_8);
            String bootstrap = "127.0.0.1:" + kafka;
            out.printf(Locale.ROOT, "chaos: %d faults %s; load %.1f HTTP jobs/s + %.1f Kafka requests/s + %.2f batches/s of %d lines;"
                    + " server log %s%n", schedule.size(), schedule, httpRate, kafkaRate, batchRate, batchLines, dir.resolve("server.log"));
            ChaosServer server = split ? new ChaosServer(roleArgs(config, "ingress", bootstrap), dir.resolve("server.log"), http, heap)
                    : new ChaosServer(config, dir.resolve("server.log"), http, heap);
            try (ChaosFixtures fx = new ChaosFixtures(engine, receiver)) {
                fx.start();
                if (cds) {
                    classDataSharing(config, http, server);
                }
                long t0 = System.nanoTime();
                if (split) {
                    startSplit(config, bootstrap);
                }
                server.start();
                if (!server.awaitReady(Duration.ofSeconds(180))) {
                    throw new IllegalStateException("the server did not become ready in 180 s; see " + dir.resolve("server.log"));
                }
                out.printf(Locale.ROOT, "server ready in %.1f s (pid %d)%n", (System.nanoTime() - t0) / 1e9, server.pid());
                createReplyTopic(bootstrap);
                ChaosLoad load = new ChaosLoad(server.base(), bootstrap, REPLY_TOPIC, MODEL, httpRate, kafkaRate, batchRate, batchLines, phase::get,
                        () -> "http://127.0.0.1:" + receiver + hookPath.get());
                ChaosChecker checker = new ChaosChecker(bootstrap, REPLY_TOPIC, server.base());
                try {
                    load.start();
                    for (int i = 0; i < schedule.size(); i++) {
                        phase.set(i);
                        Thread.sleep(phaseMs);
                        long faultAt = System.currentTimeMillis();
                        double rec = inject(schedule.get(i), server, fx, load);
                        recoverS.add(rec);
                        double done = processFault(schedule.get(i)) ? sinceEnd(fx.webhookOkAtMs, faultAt) : -1;
                        firstDoneS.add(done);
                        out.printf(Locale.ROOT, "  %-18s injected; recovered in %s%s (load average %.1f)%n", schedule.get(i), seconds(rec),
                                processFault(schedule.get(i)) ? "; first webhook delivered after " + seconds(done) : "", loadAverage());
                    }
                    Thread.sleep(phaseMs); // the last phase's load after its fault
                    load.stop();
                    out.printf(Locale.ROOT, "load stopped: %d accepted; draining (at most %.0f s)...%n", load.accepted.size(), drainMs / 1000.0);
                    List<ChaosChecker.Row> rows = drain(checker, load, fx);
                    return report(rows, load);
                } finally {
                    load.close();
                    server.sigterm();
                    for (ChaosServer role : roles.values()) {
                        role.sigterm();
                    }
                    if (splitMember != null) {
                        splitMember.shutdown();
                    }
                }
            }
        }

        /**
         * Split mode: the Hazelcast member (the external cluster's stand-in, in this process: never killed here; its loss is
         * the {@code hazelcast-member} fault), then the broker ({@code inferq broker}) and the dispatcher and workers
         * processes ({@code serve --roles …} against them as external clusters). The ingress process is the run's server.
         */
        void startSplit(Path config, String bootstrap) throws Exception {
            io.inferq.server.config.InferqConfig c = io.inferq.server.config.ConfigLoader.load(config, Map.of());
            splitMember = io.inferq.server.BrokerCommand.startMember(c, "127.0.0.1");
            ChaosServer broker = new ChaosServer(List.of("broker", "--config", config.toString()), dir.resolve("broker.log"), -1, heap);
            roles.put("broker", broker);
            roles.put("dispatcher", new ChaosServer(roleArgs(config, "dispatcher", bootstrap), dir.resolve("dispatcher.log"), -1, heap));
            roles.put("workers", new ChaosServer(roleArgs(config, "workers", bootstrap), dir.resolve("workers.log"), -1, heap));
            for (ChaosServer p : roles.values()) {
                p.jvmOptions(jvmOptions);
                p.start();
                if (!p.awaitReady(Duration.ofSeconds(180))) {
                    throw new IllegalStateException("a split-mode process did not start in 180 s; see " + dir);
                }
            }
        }

        List<String> roleArgs(Path config, String role, String bootstrap) {
            return List.of("serve", "--config", config.toString(), "--roles", role, "--kafka-bootstrap-servers", bootstrap,
                    "--hazelcast-members", "127.0.0.1:" + hazelcastPort, "--process-id", "chaos-" + role);
        }

        /** JVM options of every server process: a class-data-sharing archive once {@code --cds} has made it. */
        List<String> jvmOptions = List.of();

        /**
         * {@code --cds}: one life of the whole server on the run's data writes a dynamic class-data-sharing archive of the
         * classes a start loads ({@code -XX:ArchiveClassesAtExit}, at its graceful stop); every later life maps it
         * ({@code -XX:SharedArchiveFile}) instead of loading and verifying those classes again. The JVM needs the class path
         * to be jar files only (as with {@code java -jar inferq-load.jar}); otherwise the run goes on without it.
         */
        void classDataSharing(Path config, int http, ChaosServer server) throws Exception {
            Path archive = dir.resolve("inferq-cds.jsa");
            ChaosServer training = new ChaosServer(config, dir.resolve("cds-training.log"), http, heap);
            training.jvmOptions(List.of("-XX:ArchiveClassesAtExit=" + archive));
            long t0 = System.nanoTime();
            training.start();
            if (!training.awaitReady(Duration.ofSeconds(180))) {
                throw new IllegalStateException("the class-data-sharing training life did not become ready; see " + dir);
            }
            training.sigterm();
            if (Files.isRegularFile(archive)) {
                jvmOptions = List.of("-XX:SharedArchiveFile=" + archive, "-Xlog:cds=off", "-Xlog:cds+dynamic=off");
                server.jvmOptions(jvmOptions);
                out.printf(Locale.ROOT, "class-data-sharing archive %s made in %.1f s%n", archive, (System.nanoTime() - t0) / 1e9);
            } else {
                out.println("no class-data-sharing archive was written (see " + dir.resolve("cds-training.log") + "); going on without");
            }
        }

        static boolean processFault(String fault) {
            return fault.startsWith("kill -9") || fault.startsWith("kill-") || fault.equals("sigterm") || fault.equals("hazelcast-member");
        }

        static String seconds(double s) {
            return s < 0 ? "-" : String.format(Locale.ROOT, "%.1f s", s);
        }

        static double loadAverage() {
            return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        }

        /**
         * An extra Hazelcast member (in this JVM, on loopback) joins the server's cluster, takes its share of the
         * partitions under load, and is then terminated without a goodbye, as a crashed member would be.
         *
         * @return seconds from the member's death to the next HTTP job accepted, or -1
         */
        double hazelcastMemberLoss(ChaosLoad load) throws Exception {
            com.hazelcast.config.Config c = new com.hazelcast.config.Config();
            c.setClusterName(clusterName);
            c.setProperty("hazelcast.phone.home.enabled", "false");
            c.setProperty("hazelcast.logging.type", "slf4j");
            c.setProperty("hazelcast.shutdownhook.enabled", "false");
            c.setProperty("hazelcast.wait.seconds.before.join", "0");
            c.setProperty("hazelcast.socket.bind.any", "false");
            com.hazelcast.config.NetworkConfig net = c.getNetworkConfig();
            net.setPort(freePort()).setPortAutoIncrement(false);
            net.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
            net.getJoin().getMulticastConfig().setEnabled(false);
            net.getJoin().getAutoDetectionConfig().setEnabled(false);
            net.getJoin().getTcpIpConfig().setEnabled(true).addMember("127.0.0.1:" + hazelcastPort);
            com.hazelcast.core.HazelcastInstance member = com.hazelcast.core.Hazelcast.newHazelcastInstance(c);
            try {
                long deadline = System.currentTimeMillis() + 60_000;
                while (member.getCluster().getMembers().size() < 2 && System.currentTimeMillis() < deadline) {
                    Thread.sleep(100);
                }
                if (member.getCluster().getMembers().size() < 2) {
                    throw new IllegalStateException("the extra Hazelcast member did not join the server's cluster in 60 s");
                }
                Thread.sleep(faultMs); // partitions migrate to it while the load goes on
            } finally {
                member.getLifecycleService().terminate();
            }
            long deadAt = System.currentTimeMillis();
            long until = deadAt + 60_000;
            while (load.lastHttpAcceptMs.get() <= deadAt && System.currentTimeMillis() < until) {
                Thread.sleep(20);
            }
            return load.lastHttpAcceptMs.get() <= deadAt ? -1 : (load.lastHttpAcceptMs.get() - deadAt) / 1000.0;
        }

        /** Injects one fault; @return seconds to recover, or -1 when not measured */
        double inject(String fault, ChaosServer server, ChaosFixtures fx, ChaosLoad load) throws Exception {
            if (fault.startsWith("kill -9")) {
                server.kill9();
                long deadAt = System.currentTimeMillis(); // the process is gone: any 202 from here on is the new one's
                server.start();
                return awaitAcceptAfter(load, deadAt, server);
            }
            if (fault.startsWith("kill-")) {
                String role = fault.substring("kill-".length()).replaceAll(" #\\d+$", "");
                ChaosServer p = role.equals("ingress") ? server : roles.get(role);
                p.kill9();
                long deadAt = System.currentTimeMillis();
                p.start();
                if (role.equals("ingress") || role.equals("broker")) {
                    if (role.equals("broker") && !p.awaitReady(Duration.ofSeconds(180))) {
                        throw new IllegalStateException("the broker did not start again within 180 s; see " + dir.resolve("broker.log"));
                    }
                    return awaitAcceptAfter(load, deadAt, server);
                }
                if (!p.awaitReady(Duration.ofSeconds(180))) {
                    throw new IllegalStateException("the " + role + " process did not start again within 180 s; see " + dir);
                }
                return awaitDoneAfter(load, fx, deadAt);
            }
            switch (fault) {
                case "sigterm" -> {
                    server.sigterm();
                    long stoppedAt = System.currentTimeMillis();
                    server.start();
                    return awaitAcceptAfter(load, stoppedAt, server);
                }
                case "hazelcast-member" -> {
                    return hazelcastMemberLoss(load);
                }
                case "webhook-fail" -> {
                    return receiverFault(fx, ChaosFixtures.ReceiverMode.FAIL_FIRST_ATTEMPT);
                }
                case "webhook-hang" -> {
                    return receiverFault(fx, ChaosFixtures.ReceiverMode.HANG_FIRST_ATTEMPT);
                }
                case "webhook-410" -> {
                    hookPath.set("/gone");
                    Thread.sleep(faultMs);
                    hookPath.set("/hook");
                    return sinceEnd(fx.webhookOkAtMs, System.currentTimeMillis());
                }
                case "webhook-vanish" -> {
                    fx.receiverDown();
                    Thread.sleep(faultMs);
                    long end = System.currentTimeMillis();
                    fx.receiverUp();
                    return sinceEnd(fx.webhookOkAtMs, end);
                }
                case "engine-429" -> {
                    return engineFault(fx, ChaosFixtures.EngineMode.TOO_MANY_REQUESTS);
                }
                case "engine-500" -> {
                    return engineFault(fx, ChaosFixtures.EngineMode.SERVER_ERROR);
                }
                case "engine-timeout" -> {
                    return engineFault(fx, ChaosFixtures.EngineMode.TIMEOUT);
                }
                default -> throw new IllegalArgumentException(fault);
            }
        }

        double receiverFault(ChaosFixtures fx, ChaosFixtures.ReceiverMode mode) throws Exception {
            fx.receiverMode.set(mode);
            Thread.sleep(faultMs);
            long end = System.currentTimeMillis();
            fx.receiverMode.set(ChaosFixtures.ReceiverMode.OK);
            return sinceEnd(fx.webhookOkAtMs, end);
        }

        double engineFault(ChaosFixtures fx, ChaosFixtures.EngineMode mode) throws Exception {
            fx.engineMode.set(mode);
            Thread.sleep(faultMs);
            long end = System.currentTimeMillis();
            fx.engineMode.set(ChaosFixtures.EngineMode.OK);
            return sinceEnd(fx.engineOkAtMs, end);
        }

        /** Waits (up to 30 s) for the next success after {@code endMs}. @return seconds from {@code endMs}, or -1 */
        double sinceEnd(java.util.concurrent.atomic.AtomicLong okAtMs, long endMs) throws InterruptedException {
            long deadline = System.currentTimeMillis() + 30_000;
            while (okAtMs.get() < endMs && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            return okAtMs.get() < endMs ? -1 : Math.max(0, okAtMs.get() - endMs) / 1000.0;
        }

        /**
         * Split mode, a dispatcher or workers process killed: seconds from its death to the first webhook delivered for an
         * HTTP job accepted after it (a job the restarted role dispatched or ran), or -1 after 180 s.
         */
        double awaitDoneAfter(ChaosLoad load, ChaosFixtures fx, long atMs) throws InterruptedException {
            long deadline = System.currentTimeMillis() + 180_000;
            while (System.currentTimeMillis() < deadline) {
                java.util.Set<String> after = new java.util.HashSet<>();
                load.accepted.stream().filter(a -> a.http() && a.atMs() > atMs).forEach(a -> after.add(a.id()));
                java.util.OptionalLong first = fx.received.stream()
                        .filter(r -> r.status() >= 200 && r.status() < 300 && after.contains(r.jobId()))
                        .mapToLong(ChaosFixtures.Received::atMs).min();
                if (first.isPresent()) {
                    return (first.getAsLong() - atMs) / 1000.0;
                }
                Thread.sleep(100);
            }
            return -1;
        }

        /** Time from the fault to the first HTTP job accepted after it; then waits for the server to be ready. */
        double awaitAcceptAfter(ChaosLoad load, long atMs, ChaosServer server) throws InterruptedException {
            long deadline = System.currentTimeMillis() + 180_000;
            while (load.lastHttpAcceptMs.get() <= atMs && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            double s = load.lastHttpAcceptMs.get() <= atMs ? -1 : (load.lastHttpAcceptMs.get() - atMs) / 1000.0;
            if (!server.awaitReady(Duration.ofSeconds(180))) {
                throw new IllegalStateException("the server did not become ready again within 180 s; see " + dir.resolve("server.log"));
            }
            return s;
        }

        List<ChaosChecker.Row> drain(ChaosChecker checker, ChaosLoad load, ChaosFixtures fx) throws InterruptedException {
            long deadline = System.currentTimeMillis() + drainMs;
            Map<Integer, Integer> refused = new HashMap<>();
            load.refusedByPhase.forEach((k, v) -> refused.put(k, v.get()));
            List<ChaosChecker.Row> rows;
            while (true) {
                ChaosChecker.Observed o = checker.observe(load.batchIds);
                rows = checker.rows(schedule, recoverS, load.accepted, refused, fx.received, o);
                boolean settled = rows.stream().allMatch(r -> r.lost() == 0 && r.webhooksDone() == r.webhooksExpected());
                if (settled || System.currentTimeMillis() > deadline) {
                    break;
                }
                Thread.sleep(2000);
            }
            Thread.sleep(2000); // late duplicates would show in a last look
            return checker.rows(schedule, recoverS, load.accepted, refused, fx.received, checker.observe(load.batchIds));
        }

        int report(List<ChaosChecker.Row> rows, ChaosLoad load) throws IOException {
            String header = String.format(Locale.ROOT, "%-18s %9s %8s %10s %5s %11s %12s %15s %16s %10s %13s",
                    "fault", "accepted", "refused", "completed", "lost", "duplicated", "webhooks", "webhook-id-dups",
                    "same-id-repeats", "recover-s", "first-done-s");
            StringBuilder table = new StringBuilder(header).append('\n');
            int accepted = 0;
            int lost = 0;
            int dup = 0;
            boolean ok = true;
            List<Map<String, Object>> json = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) {
                ChaosChecker.Row r = rows.get(i);
                double done = i < firstDoneS.size() ? firstDoneS.get(i) : -1;
                table.append(String.format(Locale.ROOT, "%-18s %9d %8d %10d %5d %11d %12s %15d %16d %10s %13s%n", r.fault(), r.accepted(),
                        r.refused(), r.completed(), r.lost(), r.duplicated(), r.webhooksDone() + "/" + r.webhooksExpected(),
                        r.webhookIdClashes(), r.webhookRepeats(), r.recoverS() < 0 ? "-" : String.format(Locale.ROOT, "%.1f", r.recoverS()),
                        done < 0 ? "-" : String.format(Locale.ROOT, "%.1f", done)));
                accepted += r.accepted();
                lost += r.lost();
                dup += r.duplicated();
                ok &= r.ok();
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("fault", r.fault());
                m.put("accepted", r.accepted());
                m.put("refused", r.refused());
                m.put("completed", r.completed());
                m.put("lost", r.lost());
                m.put("duplicated", r.duplicated());
                m.put("webhooks_expected", r.webhooksExpected());
                m.put("webhooks_delivered_or_dead_lettered", r.webhooksDone());
                m.put("webhook_id_clashes", r.webhookIdClashes());
                m.put("webhook_same_id_repeats", r.webhookRepeats());
                m.put("recover_s", r.recoverS());
                m.put("first_done_s", done);
                json.add(m);
            }
            String verdict = String.format(Locale.ROOT, "CHAOS %s: %d accepted, %d lost, %d duplicated over %d faults",
                    ok ? "PASSED" : "FAILED", accepted, lost, dup, rows.size());
            out.print(table);
            out.println(verdict);
            Files.writeString(dir.resolve("chaos-table.txt"), table + verdict + "\n", StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("summary.json"), new io.vertx.core.json.JsonObject()
                    .put("command", "chaos").put("passed", ok).put("rows", new io.vertx.core.json.JsonArray(json)).encodePrettily(),
                    StandardCharsets.UTF_8);
            out.println("report: " + dir.toAbsolutePath());
            return ok ? 0 : 1;
        }

        static String config(Path data, int http, int kafka, int controller, int hazelcast, int engine) {
            return """
                    data-dir: %s
                    http: {host: 127.0.0.1, port: %d}
                    kafka: {port: %d, controller-port: %d, partitions: 3}
                    hazelcast: {port: %d, cluster-name: inferq-chaos-%d}
                    webhooks: {timeout-ms: 2000, allow-private-targets: [127.0.0.1]}
                    kv-cache: {enabled: false}
                    pools:
                      - id: chaos-engine
                        chip: h20
                        chips-per-instance: 1
                        instances: 2
                        model: %s
                        backend: openai-http
                        base-urls: [http://127.0.0.1:%d, http://127.0.0.1:%d]
                        request-timeout-ms: 2000
                        max-batch-tokens: 8192
                        max-concurrent-sequences: 16
                        time-scale: 1.0
                    """.formatted(data.toAbsolutePath(), http, kafka, controller, hazelcast, ProcessHandle.current().pid(), MODEL,
                    engine, engine);
        }

        static void createReplyTopic(String bootstrap) throws Exception {
            Properties p = new Properties();
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            try (Admin admin = Admin.create(p)) {
                if (!admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(REPLY_TOPIC)) {
                    admin.createTopics(List.of(new NewTopic(REPLY_TOPIC, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
                }
                // the dispatcher checks a reply topic exists through its own metadata: give it a moment to see the new one
                admin.describeTopics(List.of(REPLY_TOPIC, TopicCatalogue.REQUESTS)).allTopicNames().get(30, TimeUnit.SECONDS);
            }
        }

        /** Distinct ports: the engine and the receiver once got the same one and shared it (Vert.x server sharing). */
        static int freePort() {
            return FreePorts.pick();
        }
    }
}
