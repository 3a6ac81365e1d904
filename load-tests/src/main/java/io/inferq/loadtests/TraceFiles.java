package io.inferq.loadtests;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the shared workload traces are when no path is given: {@code -Dinferq.traces}, then
 * {@code INFERQ_TRACES}, then the first {@code shared/traces} found walking up from the working
 * directory (the repository sits beside {@code shared/}), then {@code /work/shared/traces}.
 */
public final class TraceFiles {
    public static final String CONVERSATION = "conversation_trace.jsonl";
    public static final String AZURE = "AzureLLMInferenceTrace_conv.csv";

    private TraceFiles() {
    }

    public static Path defaultDir() {
        String configured = System.getProperty("inferq.traces", System.getenv("INFERQ_TRACES"));
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared").resolve("traces");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return Path.of("/work/shared/traces");
    }

    /** @return the default path of one trace file as a string (for flag defaults) */
    public static String defaultFile(String name) {
        return defaultDir().resolve(name).toString();
    }
}
