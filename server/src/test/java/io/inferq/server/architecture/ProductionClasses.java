package io.inferq.server.architecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;

/**
 * The production classes of every module on the test class path ({@code io.inferq}, tests and test jars excluded), imported
 * once and shared by the architecture tests, and the package patterns of the modules. Library types are seen as dependencies only, not imported as classes.
 * The one import of the architecture tests: {@code load-tests} uses it too (through the server's test jar), where its
 * own classes are on the class path as well.
 */
public final class ProductionClasses {
    static final String BROKER = "io.inferq.broker..";
    static final String KV = "io.inferq.kvcache..";
    static final String WORKERS = "io.inferq.workers..";
    static final String DISPATCHER = "io.inferq.dispatcher..";
    static final String INGRESS = "io.inferq.ingress..";
    static final String SERVER = "io.inferq.server..";

    private static JavaClasses classes;

    private ProductionClasses() {
    }

    public static synchronized JavaClasses get() {
        if (classes == null) {
            com.tngtech.archunit.ArchConfiguration.get().setResolveMissingDependenciesFromClassPath(false);
            // a module's test jar (chip-workers' shared fixtures) is on this class path as target/test-classes under
            // `mvn test` but as a *-tests.jar under `mvn verify`: exclude both
            classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                    .withImportOption(location -> !location.contains("-tests.jar"))
                    .importPackages("io.inferq");
        }
        return classes;
    }
}
