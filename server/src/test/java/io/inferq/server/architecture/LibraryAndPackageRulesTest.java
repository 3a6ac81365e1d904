package io.inferq.server.architecture;

import static io.inferq.server.architecture.ProductionClasses.BROKER;
import static io.inferq.server.architecture.ProductionClasses.KV;
import static io.inferq.server.architecture.ProductionClasses.WORKERS;
import static io.inferq.server.architecture.ProductionClasses.DISPATCHER;
import static io.inferq.server.architecture.ProductionClasses.INGRESS;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Holds what DESIGN.md's module table says beyond module edges (which Maven already enforces): which modules may
 * import which libraries, how the packages inside a module depend on each other, and that neither modules nor the
 * packages inside one form a cycle. Production classes only (the server's test class path holds every module but
 * {@code load-tests}, whose rules live in its own {@code LoadTestsArchitectureTest}).
 *
 * <pre>
 * Hazelcast  kv-cache-store; ingress.view (derived views only); server (wiring)
 * Caffeine   kv-cache-store; its adapters dispatcher.kv and workers.kv; server (wiring)
 * Vert.x     chip-workers, dispatcher.runtime, ingress, server; in kv-cache-store only the RESP front end (kvcache.resp)
 * Kafka      broker-config, chip-workers.runtime, dispatcher.runtime, ingress, server; never kv-cache-store;
 *            the broker itself (kafka.*, org.apache.kafka.server/raft/metadata/storage) only in broker.embedded
 * </pre>
 */
class LibraryAndPackageRulesTest {
    private static final String HAZELCAST = "com.hazelcast..";
    private static final String CAFFEINE = "com.github.benmanes.caffeine..";
    private static final String VERTX = "io.vertx..";
    private static final String KAFKA = "org.apache.kafka..";

    private static final JavaClasses classes = ProductionClasses.get();

    /** Guards against the library rules passing vacuously: library types are seen although not imported as classes. */
    @Test
    void libraryDependenciesAreSeen() {
        for (String[] pair : new String[][] {{"io.inferq.ingress.view", "com.hazelcast"}, {"io.inferq.kvcache.store", "com.github.benmanes.caffeine"},
                {"io.inferq.dispatcher.runtime", "org.apache.kafka"}, {"io.inferq.ingress.api", "io.vertx"},
                {"io.inferq.broker.embedded", "kafka"}}) {
            boolean seen = classes.stream().filter(c -> c.getPackageName().equals(pair[0]))
                    .flatMap(c -> c.getDirectDependenciesFromSelf().stream())
                    .anyMatch(d -> d.getTargetClass().getPackageName().startsWith(pair[1] + "."));
            org.assertj.core.api.Assertions.assertThat(seen).as(pair[0] + " -> " + pair[1]).isTrue();
        }
    }

    // ---- libraries ------------------------------------------------------------------------------------------

    @Test
    void hazelcastOnlyInTheCacheStoreTheIngressViewsAndTheWiring() {
        check(noClasses().that().resideInAnyPackage(BROKER, WORKERS, DISPATCHER, INGRESS)
                .and().resideOutsideOfPackage("io.inferq.ingress.view..")
                .should().dependOnClassesThat().resideInAPackage(HAZELCAST));
    }

    /** The KV adapters of the dispatcher and the workers ({@code dispatcher.kv}, {@code workers.kv}) keep small memos. */
    @Test
    void caffeineOnlyInTheCacheStoreItsAdaptersAndTheWiring() {
        check(noClasses().that().resideInAnyPackage(BROKER, WORKERS, DISPATCHER, INGRESS)
                .and().resideOutsideOfPackages("io.inferq.dispatcher.kv..", "io.inferq.workers.kv..")
                .should().dependOnClassesThat().resideInAPackage(CAFFEINE));
    }

    @Test
    void kafkaNeverInTheCacheStore() {
        check(noClasses().that().resideInAPackage(KV).should().dependOnClassesThat().resideInAPackage(KAFKA));
    }

    /** The embedded broker's internals are for {@code serve} and tests: clients use only {@code kafka-clients}. */
    @Test
    void kafkaBrokerInternalsOnlyInTheEmbeddedBroker() {
        check(noClasses().that().resideOutsideOfPackage("io.inferq.broker.embedded..")
                .should().dependOnClassesThat().resideInAnyPackage("kafka..", "org.apache.kafka.server..",
                        "org.apache.kafka.raft..", "org.apache.kafka.metadata..", "org.apache.kafka.storage.."));
    }

    /** The dispatch policy (admission, fair queues, bucketing, routing) runs in the simulator too: no Kafka, no Vert.x. */
    @Test
    void dispatchPolicyIsFreeOfKafkaAndVertx() {
        check(noClasses().that().resideInAPackage(DISPATCHER).and().resideOutsideOfPackage("io.inferq.dispatcher.runtime..")
                .should().dependOnClassesThat().resideInAnyPackage(KAFKA, VERTX));
    }

    /** Chips, backends and pool plans know nothing of Kafka; only the worker runtime reads and writes topics. */
    @Test
    void workersUseKafkaOnlyInTheirRuntime() {
        check(noClasses().that().resideInAPackage(WORKERS).and().resideOutsideOfPackage("io.inferq.workers.runtime..")
                .should().dependOnClassesThat().resideInAPackage(KAFKA));
    }

    // ---- packages inside modules ----------------------------------------------------------------------------

    @Test
    void onlyTheServerStartsTheEmbeddedBroker() {
        check(noClasses().that().resideInAnyPackage(KV, WORKERS, DISPATCHER, INGRESS)
                .or().resideInAnyPackage("io.inferq.broker.client..", "io.inferq.broker.topics..", "io.inferq.broker.serde..")
                .should().dependOnClassesThat().resideInAPackage("io.inferq.broker.embedded.."));
    }

    @Test
    void cacheStorePackagesLayer() {
        check(noClasses().that().resideInAPackage("io.inferq.kvcache.hashing..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.kvcache.store..", "io.inferq.kvcache.index..", "io.inferq.kvcache.events..",
                        "io.inferq.kvcache.resp..", "io.inferq.kvcache.trace.."));
        check(noClasses().that().resideInAPackage("io.inferq.kvcache.index..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.kvcache.store..", "io.inferq.kvcache.resp..", "io.inferq.kvcache.events.."));
        check(noClasses().that().resideInAPackage("io.inferq.kvcache.store..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.kvcache.resp..", "io.inferq.kvcache.events.."));
    }

    @Test
    void workerPackagesLayer() {
        check(noClasses().that().resideInAPackage("io.inferq.workers.chips..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.workers.backend..", "io.inferq.workers.pool..", "io.inferq.workers.runtime.."));
        check(noClasses().that().resideInAPackage("io.inferq.workers.backend..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.workers.pool..", "io.inferq.workers.runtime.."));
        // the engine model (shared by the simulated backend and the policy simulator) builds on the roofline only
        check(noClasses().that().resideInAPackage("io.inferq.workers.engine..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.workers.backend..", "io.inferq.workers.pool..", "io.inferq.workers.runtime.."));
        check(noClasses().that().resideInAPackage("io.inferq.workers.chips..").should().dependOnClassesThat()
                .resideInAPackage("io.inferq.workers.engine.."));
    }

    @Test
    void ingressPackagesLayer() {
        check(noClasses().that().resideInAPackage("io.inferq.ingress.tenants..").should().dependOnClassesThat()
                .resideInAnyPackage("io.inferq.ingress.api..", "io.inferq.ingress.view..", "io.inferq.ingress.webhooks..",
                        "io.inferq.ingress.batch..", "io.inferq.ingress.files..", "io.inferq.ingress.console..",
                        "io.inferq.ingress.streaming.."));
        check(noClasses().that().resideInAnyPackage("io.inferq.ingress.view..", "io.inferq.ingress.streaming..")
                .should().dependOnClassesThat().resideInAnyPackage("io.inferq.ingress.api..", "io.inferq.ingress.webhooks..",
                        "io.inferq.ingress.batch..", "io.inferq.ingress.files..", "io.inferq.ingress.console.."));
        check(noClasses().that().resideInAnyPackage("io.inferq.ingress.api..", "io.inferq.ingress.webhooks..")
                .should().dependOnClassesThat().resideInAnyPackage("io.inferq.ingress.batch..", "io.inferq.ingress.console.."));
    }

    // ---- cycles ---------------------------------------------------------------------------------------------

    @Test
    void modulesAreFreeOfCycles() {
        check(slices().matching("io.inferq.(*)..").should().beFreeOfCycles());
    }

    @ParameterizedTest
    @ValueSource(strings = {"broker", "job", "kvcache", "workers", "dispatcher", "ingress", "server"})
    void packagesInsideEachModuleAreFreeOfCycles(String module) {
        check(slices().matching("io.inferq." + module + ".(*)..").should().beFreeOfCycles());
    }

    private static void check(ArchRule rule) {
        rule.check(classes);
    }
}
