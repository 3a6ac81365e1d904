package io.inferq.server.architecture;

import static io.inferq.server.architecture.ProductionClasses.BROKER;
import static io.inferq.server.architecture.ProductionClasses.KV;
import static io.inferq.server.architecture.ProductionClasses.WORKERS;
import static io.inferq.server.architecture.ProductionClasses.DISPATCHER;
import static io.inferq.server.architecture.ProductionClasses.INGRESS;
import static io.inferq.server.architecture.ProductionClasses.SERVER;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.Test;

/**
 * Holds the module dependency table of DESIGN.md on the production classes of every module
 * (the server's test class path holds them all):
 *
 * <pre>
 * broker-config   → Kafka, Avro
 * kv-cache-store  → Hazelcast, Caffeine
 * chip-workers    → broker-config, kv-cache-store
 * dispatcher      → broker-config, kv-cache-store
 * ingress         → broker-config
 * server          → all
 * </pre>
 * and: dispatcher and ingress never import each other. Nothing here depends on {@code load-tests}: its classes are not
 * on this class path, so that rule lives in {@code load-tests} ({@code LoadTestsArchitectureTest}), where every module is.
 * Libraries, packages and cycles: {@link LibraryAndPackageRulesTest}.
 */
class ModuleDependencyRulesTest {
    private static final String LOAD_TESTS = "io.inferq.loadtests..";

    private static final JavaClasses classes = ProductionClasses.get();

    @Test
    void everyModuleWasImported() {
        // guards against rules passing vacuously on an empty import
        for (String type : new String[] {"io.inferq.broker.topics.TopicCatalogue", "io.inferq.kvcache.hashing.BlockHasher",
                "io.inferq.workers.runtime.PoolWorker", "io.inferq.dispatcher.DispatchScheduler", "io.inferq.ingress.api.JobsApi",
                "io.inferq.server.InferqServer"}) {
            org.assertj.core.api.Assertions.assertThat(classes.contain(type)).as(type).isTrue();
        }
    }

    @Test
    void brokerConfigDependsOnNoOtherModule() {
        check(noClasses().that().resideInAPackage(BROKER).should().dependOnClassesThat()
                .resideInAnyPackage(KV, WORKERS, DISPATCHER, INGRESS, SERVER, LOAD_TESTS));
    }

    @Test
    void kvCacheStoreDependsOnNoOtherModule() {
        check(noClasses().that().resideInAPackage(KV).should().dependOnClassesThat()
                .resideInAnyPackage(BROKER, WORKERS, DISPATCHER, INGRESS, SERVER, LOAD_TESTS));
    }

    @Test
    void chipWorkersUseOnlyBrokerConfigAndKvCacheStore() {
        check(noClasses().that().resideInAPackage(WORKERS).should().dependOnClassesThat()
                .resideInAnyPackage(DISPATCHER, INGRESS, SERVER, LOAD_TESTS));
    }

    @Test
    void dispatcherUsesOnlyBrokerConfigAndKvCacheStore() {
        check(noClasses().that().resideInAPackage(DISPATCHER).should().dependOnClassesThat()
                .resideInAnyPackage(WORKERS, INGRESS, SERVER, LOAD_TESTS));
    }

    @Test
    void ingressUsesOnlyBrokerConfig() {
        check(noClasses().that().resideInAPackage(INGRESS).should().dependOnClassesThat()
                .resideInAnyPackage(KV, WORKERS, DISPATCHER, SERVER, LOAD_TESTS));
    }

    /** Except the remote KV tier's network front end ({@code kvcache.resp}, a Vert.x NetServer); its store is Vert.x-free. */
    @Test
    void vertxStaysOutOfTheContractAndCacheModules() {
        check(noClasses().that().resideInAnyPackage(BROKER, KV).and().resideOutsideOfPackage("io.inferq.kvcache.resp..")
                .should().dependOnClassesThat().resideInAPackage("io.vertx.."));
        check(noClasses().that().haveFullyQualifiedName("io.inferq.kvcache.resp.RemoteValueStore").should()
                .dependOnClassesThat().resideInAPackage("io.vertx.."));
    }

    private static void check(ArchRule rule) {
        rule.check(classes);
    }
}
