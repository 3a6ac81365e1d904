package io.inferq.server.architecture;

import static io.inferq.server.architecture.ProductionClasses.SERVER;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The KV adapters live in the modules they serve, and the module edges the poms declare to {@code kv-cache-store}
 * are real ones: block hashing of a prompt in kv-cache-store, the prompt analyser and prefix locators in
 * dispatcher, the cache hook in chip-workers; the server only wires them (and starts the two launchers that need its
 * configuration).
 */
class KvAdapterHomesTest {


    private static final JavaClasses classes = ProductionClasses.get();

    /** The packages of {@code modulePackage} that use kv-cache-store. */
    private static Set<String> packagesUsingKvCacheStore(String modulePackage) {
        Set<String> users = new TreeSet<>();
        for (JavaClass c : classes) {
            if (!c.getPackageName().startsWith(modulePackage)) {
                continue;
            }
            for (Dependency d : c.getDirectDependenciesFromSelf()) {
                if (d.getTargetClass().getPackageName().startsWith("io.inferq.kvcache")) {
                    users.add(c.getPackageName());
                }
            }
        }
        return users;
    }

    @Test
    void dispatcherAndChipWorkersReallyUseKvCacheStoreThroughTheirKvPackages() {
        assertThat(packagesUsingKvCacheStore("io.inferq.dispatcher")).contains("io.inferq.dispatcher.kv");
        assertThat(packagesUsingKvCacheStore("io.inferq.workers")).contains("io.inferq.workers.kv");
    }

    @Test
    void theServerImplementsNoKvAdapter() {
        noClasses().that().resideInAPackage(SERVER).should().implement(io.inferq.dispatcher.PrefixLocator.class)
                .orShould().implement(io.inferq.dispatcher.runtime.PromptAnalyzer.class)
                .orShould().implement(io.inferq.workers.runtime.PrefixCacheHook.class)
                .check(classes);
    }

    @Test
    void onlyKvCacheStoreTokenisesOrChainsBlocks() {
        noClasses().that().resideInAnyPackage("io.inferq.broker..", "io.inferq.workers..", "io.inferq.dispatcher..",
                        "io.inferq.ingress..", SERVER)
                .should().callConstructor(io.inferq.kvcache.hashing.BlockHasher.class, io.inferq.kvcache.hashing.HashSeed.class, int.class)
                .orShould().callMethodWhere(com.tngtech.archunit.core.domain.JavaCall.Predicates.target(
                        com.tngtech.archunit.base.DescribedPredicate.describe("a tokenizer's encode",
                                t -> t.getOwner().isAssignableTo(io.inferq.kvcache.tokens.PromptTokenizer.class)
                                        && t.getName().startsWith("encode"))))
                .check(classes);
    }
}
