package io.inferq.server.architecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;

/**
 * The production classes of every module on the server's test class path ({@code io.inferq}, tests excluded), imported
 * once and shared by the architecture tests. Library types are seen as dependencies only, not imported as classes.
 */
final class ProductionClasses {
    private static JavaClasses classes;

    private ProductionClasses() {
    }

    static synchronized JavaClasses get() {
        if (classes == null) {
            com.tngtech.archunit.ArchConfiguration.get().setResolveMissingDependenciesFromClassPath(false);
            classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                    .importPackages("io.inferq");
        }
        return classes;
    }
}
