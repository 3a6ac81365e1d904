package io.inferq.loadtests;

import io.inferq.loadtests.policy.TraceReader;
import io.inferq.loadtests.policy.TraceRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the shared workload traces are when no path is given: {@code -Dinferq.traces}, then
 * {@code INFERQ_TRACES}, then the first {@code shared/traces} found walking up from the working
 * directory (the repository sits beside {@code shared/}), then {@code /work/shared/traces}.
 *
 * <p>Every tool takes any trace instead: {@code --trace <path>} (some take a comma-separated list) in any format
 * {@link TraceReader} reads, detected from the file's first line or named by {@code --trace-format
 * auto|mooncake|azure|burstgpt}.
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

    /**
     * One trace to read: a path and its format.
     *
     * @param path   the file
     * @param format its format ({@link TraceReader.Format#AUTO}: detected)
     */
    public record TraceInput(Path path, TraceReader.Format format) {
        public List<TraceRequest> read() {
            return TraceReader.read(path, format);
        }

        /** The file name without its extension: a short label for tables. */
        public String label() {
            String n = path.getFileName().toString();
            int dot = n.lastIndexOf('.');
            return dot > 0 ? n.substring(0, dot) : n;
        }
    }

    /** {@code --trace-format} (default auto). */
    public static TraceReader.Format format(Flags f) {
        return TraceReader.Format.parse(f.string("trace-format", "auto"));
    }

    /** {@code --<flag> <path>} (default: {@code defaultName} in {@link #defaultDir()}) and {@code --trace-format}. */
    public static TraceInput input(Flags f, String flag, String defaultName) {
        return new TraceInput(Path.of(f.string(flag, defaultFile(defaultName))), format(f));
    }

    /** {@code --<flag> <path>[,<path>...]} (default: {@code defaultNames} in {@link #defaultDir()}) and {@code --trace-format}. */
    public static List<TraceInput> inputs(Flags f, String flag, List<String> defaultNames) {
        TraceReader.Format format = format(f);
        String given = f.string(flag, null);
        List<TraceInput> out = new ArrayList<>();
        if (given == null) {
            defaultNames.forEach(n -> out.add(new TraceInput(defaultDir().resolve(n), format)));
        } else {
            for (String p : given.split(",")) {
                if (!p.isBlank()) {
                    out.add(new TraceInput(Path.of(p.trim()), format));
                }
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("--" + flag + " names no file");
            }
        }
        return out;
    }
}
