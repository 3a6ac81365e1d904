package io.inferq.loadtests;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import io.inferq.server.architecture.ProductionClasses;
import org.junit.jupiter.api.Test;

/**
 * The rules that need {@code load-tests} on the class path (the server's architecture tests cannot see it): nothing in
 * the product depends on the load tests, and the modules form no cycle with them. The classes come from the same import
 * as the server's rules ({@link ProductionClasses}), so both see production classes only.
 *
 * <p>Known package cycles inside {@code load-tests} (not checked here, listed so they are not forgotten): the root
 * package ({@code LoadCommand}, shared helpers) and {@code bench}, {@code chaos}, {@code policy}, {@code embedded} use
 * each other, and {@code replay} and {@code report} use each other. Breaking them means moving the shared helpers out
 * of the root package; the simulator ({@code policy}) is being rewritten with the dispatch loop.
 */
class LoadTestsArchitectureTest {
    /** The server's architecture-test import (tests and test jars excluded); here it holds the load tests too. */
    private static final JavaClasses classes = ProductionClasses.get();

    @Test
    void everyModuleIsOnTheClassPath() {
        for (String type : new String[] {"io.inferq.loadtests.LoadCommand", "io.inferq.server.InferqServer",
                "io.inferq.ingress.api.JobsApi", "io.inferq.dispatcher.DispatchScheduler"}) {
            assertThat(classes.contain(type)).as(type).isTrue();
        }
    }

    @Test
    void nothingButLoadTestsDependsOnLoadTests() {
        noClasses().that().resideOutsideOfPackage("io.inferq.loadtests..").should().dependOnClassesThat()
                .resideInAPackage("io.inferq.loadtests..").check(classes);
    }

    @Test
    void modulesIncludingLoadTestsAreFreeOfCycles() {
        slices().matching("io.inferq.(*)..").should().beFreeOfCycles().check(classes);
    }
}
