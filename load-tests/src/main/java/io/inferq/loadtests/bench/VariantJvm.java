package io.inferq.loadtests.bench;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs one load command in a JVM of its own (the same java, class path and JVM flags as this one), so variants that
 * are compared side by side each start from a fresh JIT and heap: in one JVM the later variants ran measurably warmer
 * (a shorter "alone" TTFT, a faster batch) than the first. Blocks until the child ends; its output is copied to
 * {@code out} line by line.
 */
final class VariantJvm {
    private static final ObjectMapper JSON = new ObjectMapper();

    private VariantJvm() {
    }

    /**
     * @param args the load command and its flags, which must include {@code --out DIR}
     * @return the child's {@code DIR/summary.json}
     * @throws IllegalStateException if the child fails or writes no summary
     */
    static Map<String, Object> run(List<String> args, PrintStream out) {
        int outFlag = args.indexOf("--out");
        if (outFlag < 0 || outFlag + 1 >= args.size()) {
            throw new IllegalArgumentException("the variant's flags must give --out DIR");
        }
        Path summary = Path.of(args.get(outFlag + 1)).resolve("summary.json");
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.inferq.loadtests.LoadCommand");
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    out.println(line);
                }
            }
            int rc = p.waitFor();
            if (rc != 0 || !Files.exists(summary)) {
                throw new IllegalStateException("variant JVM " + args + " ended with " + rc + (Files.exists(summary) ? "" : ", no " + summary));
            }
            return JSON.readValue(summary.toFile(), new TypeReference<Map<String, Object>>() { });
        } catch (IOException e) {
            throw new IllegalStateException("variant JVM " + args + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while a variant JVM ran", e);
        }
    }
}
