package io.inferq.loadtests.policy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.temporal.ChronoField;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Reads the two trace formats of {@code shared/traces}; arrivals are made relative to the first request. */
public final class TraceReader {

    private static final DateTimeFormatter AZURE_TS = new DateTimeFormatterBuilder()
            .appendPattern("yyyy-MM-dd HH:mm:ss").optionalStart()
            .appendFraction(ChronoField.NANO_OF_SECOND, 1, 9, true).optionalEnd().toFormatter();

    private TraceReader() {
    }

    /** Picks the reader by extension: {@code .jsonl} Mooncake, {@code .csv} Azure. */
    public static List<TraceRequest> read(Path file) {
        return file.toString().endsWith(".csv") ? readAzureCsv(file) : readMooncakeJsonl(file);
    }

    /** Mooncake lines {@code {timestamp (ms), input_length, output_length, hash_ids}}. */
    public static List<TraceRequest> readMooncakeJsonl(Path file) {
        ObjectMapper json = new ObjectMapper();
        List<TraceRequest> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode n = json.readTree(line);
                List<Long> hashes = new ArrayList<>();
                n.path("hash_ids").forEach(h -> hashes.add(h.asLong()));
                out.add(new TraceRequest(n.get("timestamp").asLong(), Math.max(1, n.get("input_length").asInt()),
                        Math.max(1, n.get("output_length").asInt()), hashes));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read trace " + file, e);
        }
        return normalise(out);
    }

    /** Azure CSV {@code TIMESTAMP,ContextTokens,GeneratedTokens}; no prefix information. */
    public static List<TraceRequest> readAzureCsv(Path file) {
        List<TraceRequest> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String header = r.readLine();
            if (header == null || !header.startsWith("TIMESTAMP")) {
                throw new IllegalArgumentException(file + ": expected header TIMESTAMP,ContextTokens,GeneratedTokens");
            }
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.split(",");
                long ms = LocalDateTime.parse(f[0].trim(), AZURE_TS).toInstant(ZoneOffset.UTC).toEpochMilli();
                out.add(new TraceRequest(ms, Math.max(1, Integer.parseInt(f[1].trim())),
                        Math.max(1, Integer.parseInt(f[2].trim())), List.of()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read trace " + file, e);
        }
        return normalise(out);
    }

    private static List<TraceRequest> normalise(List<TraceRequest> in) {
        List<TraceRequest> sorted = new ArrayList<>(in);
        sorted.sort(Comparator.comparingLong(TraceRequest::arrivalMs)); // stable: keeps file order on ties
        long t0 = sorted.isEmpty() ? 0 : sorted.get(0).arrivalMs();
        List<TraceRequest> out = new ArrayList<>(sorted.size());
        for (TraceRequest t : sorted) {
            out.add(new TraceRequest(t.arrivalMs() - t0, t.inputTokens(), t.outputTokens(), t.blockHashes()));
        }
        return out;
    }
}
