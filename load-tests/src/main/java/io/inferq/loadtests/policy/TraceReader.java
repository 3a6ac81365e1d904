package io.inferq.loadtests.policy;

import com.fasterxml.jackson.core.JsonProcessingException;
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
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * The one reader of workload traces for every load-test tool. Formats ({@link Format}):
 * <ul>
 *   <li>{@code mooncake}: JSON lines {@code {"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [..]}};
 *       {@code hash_ids} (chained ids of 512-token prefix blocks) may be absent or empty;</li>
 *   <li>{@code azure}: CSV {@code TIMESTAMP,ContextTokens,GeneratedTokens} with timestamps
 *       {@code yyyy-MM-dd HH:mm:ss[.fraction]} (UTC); no prefix information;</li>
 *   <li>{@code burstgpt}: CSV {@code Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type}, timestamps
 *       in seconds (integer or decimal) from the trace start; no prefix information. Failed requests (0 response
 *       tokens) are kept: they arrived, and are replayed with one output token.</li>
 * </ul>
 * {@link Format#AUTO} decides from the first non-blank line (a JSON object, or the CSV header), never from the file
 * name. Arrivals are made relative to the first request and sorted (stably: file order on ties). Token counts below
 * 1 become 1.
 *
 * <p>A malformed line is an {@link IllegalArgumentException} naming the file, the line number and what was wrong;
 * an unreadable file an {@link UncheckedIOException} naming the file. Stateless; blocking file I/O.
 */
public final class TraceReader {

    /** A trace format, as named by {@code --trace-format}. */
    public enum Format {
        AUTO, MOONCAKE, AZURE, BURSTGPT;

        /** @throws IllegalArgumentException naming {@code --trace-format} and the accepted names */
        public static Format parse(String name) {
            for (Format f : values()) {
                if (f.name().equalsIgnoreCase(name.trim())) {
                    return f;
                }
            }
            throw new IllegalArgumentException("--trace-format must be auto, mooncake, azure or burstgpt, was '" + name + "'");
        }

        public String flagName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final String AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens";
    static final String BURSTGPT_HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type";

    private static final DateTimeFormatter AZURE_TS = new DateTimeFormatterBuilder()
            .appendPattern("yyyy-MM-dd HH:mm:ss").optionalStart()
            .appendFraction(ChronoField.NANO_OF_SECOND, 1, 9, true).optionalEnd().toFormatter();
    private static final ObjectMapper JSON = new ObjectMapper();

    private TraceReader() {
    }

    /** Reads {@code file} in the format its first line shows. */
    public static List<TraceRequest> read(Path file) {
        return read(file, Format.AUTO);
    }

    /** Reads {@code file} as {@code format} ({@link Format#AUTO}: detected from its first non-blank line). */
    public static List<TraceRequest> read(Path file, Format format) {
        Format f = format == Format.AUTO ? detect(file) : format;
        return switch (f) {
            case MOONCAKE -> readMooncakeJsonl(file);
            case AZURE -> readAzureCsv(file);
            case BURSTGPT -> readBurstGptCsv(file);
            case AUTO -> throw new IllegalStateException("unreachable");
        };
    }

    /** The format of {@code file}, from its first non-blank line. */
    public static Format detect(Path file) {
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                String t = stripBom(line).trim();
                if (t.isEmpty()) {
                    continue;
                }
                if (t.startsWith("{")) {
                    return Format.MOONCAKE;
                }
                String header = t.replace(" ,", ",").replace(", ", ",");
                if (header.regionMatches(true, 0, "TIMESTAMP,ContextTokens", 0, "TIMESTAMP,ContextTokens".length())) {
                    return Format.AZURE;
                }
                if (header.regionMatches(true, 0, "Timestamp,Model,Request tokens", 0, "Timestamp,Model,Request tokens".length())) {
                    return Format.BURSTGPT;
                }
                throw new IllegalArgumentException(file + ":1: unknown trace format: expected a Mooncake JSON line, the Azure "
                        + "header '" + AZURE_HEADER + "' or the BurstGPT header '" + BURSTGPT_HEADER + "'; got '"
                        + abbreviate(t) + "' (or pass --trace-format)");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read trace " + file, e);
        }
        throw new IllegalArgumentException(file + ": the trace is empty");
    }

    /** Mooncake JSON lines; {@code hash_ids} optional. */
    public static List<TraceRequest> readMooncakeJsonl(Path file) {
        return readLines(file, false, (line, n) -> {
            JsonNode o;
            try {
                o = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("not a JSON object: " + e.getOriginalMessage());
            }
            if (o == null || !o.isObject()) {
                throw new IllegalArgumentException("not a JSON object");
            }
            List<Long> hashes = new ArrayList<>();
            JsonNode ids = o.get("hash_ids");
            if (ids != null && !ids.isNull()) {
                if (!ids.isArray()) {
                    throw new IllegalArgumentException("hash_ids is not an array");
                }
                for (JsonNode h : ids) {
                    if (!h.canConvertToLong()) {
                        throw new IllegalArgumentException("hash_ids holds a non-integer: " + h);
                    }
                    hashes.add(h.asLong());
                }
            }
            return new TraceRequest(number(o, "timestamp"), atLeastOne(number(o, "input_length")),
                    atLeastOne(number(o, "output_length")), hashes);
        });
    }

    /** Azure CSV {@code TIMESTAMP,ContextTokens,GeneratedTokens}. */
    public static List<TraceRequest> readAzureCsv(Path file) {
        return readLines(file, true, (line, n) -> {
            if (n == 1) {
                requireHeader(line, "TIMESTAMP,ContextTokens", AZURE_HEADER);
                return null;
            }
            String[] f = columns(line, 3);
            long ms;
            try {
                ms = LocalDateTime.parse(f[0], AZURE_TS).toInstant(ZoneOffset.UTC).toEpochMilli();
            } catch (DateTimeParseException e) {
                throw new IllegalArgumentException("TIMESTAMP '" + f[0] + "' is not yyyy-MM-dd HH:mm:ss[.fraction]");
            }
            return new TraceRequest(ms, atLeastOne(integer(f[1], "ContextTokens")), atLeastOne(integer(f[2], "GeneratedTokens")),
                    List.of());
        });
    }

    /** BurstGPT CSV {@code Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type}. */
    public static List<TraceRequest> readBurstGptCsv(Path file) {
        return readLines(file, true, (line, n) -> {
            if (n == 1) {
                requireHeader(line, "Timestamp,Model,Request tokens", BURSTGPT_HEADER);
                return null;
            }
            String[] f = columns(line, 6);
            double seconds;
            try {
                seconds = Double.parseDouble(f[0]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("Timestamp '" + f[0] + "' is not a number of seconds");
            }
            if (!(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("Timestamp '" + f[0] + "' must be a finite number of seconds ≥ 0");
            }
            return new TraceRequest(Math.round(seconds * 1000), atLeastOne(integer(f[2], "Request tokens")),
                    atLeastOne(integer(f[3], "Response tokens")), List.of());
        });
    }

    // ------------------------------------------------------------------ shared line handling

    private interface LineParser {
        /** @return the request of this line, or null for a header line */
        TraceRequest parse(String line, int lineNo);
    }

    private static List<TraceRequest> readLines(Path file, boolean csv, LineParser parser) {
        List<TraceRequest> out = new ArrayList<>();
        int lineNo = 0;
        int contentLine = 0;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                lineNo++;
                String t = stripBom(line).trim();
                if (t.isEmpty()) {
                    continue;
                }
                contentLine++;
                try {
                    TraceRequest req = parser.parse(t, csv ? contentLine : lineNo);
                    if (req != null) {
                        out.add(req);
                    }
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(file + ":" + lineNo + ": " + e.getMessage() + " in line '"
                            + abbreviate(t) + "'", e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read trace " + file, e);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": the trace holds no request");
        }
        return normalise(out);
    }

    private static void requireHeader(String line, String prefix, String expected) {
        String header = line.replace(" ,", ",").replace(", ", ",");
        if (!header.regionMatches(true, 0, prefix, 0, prefix.length())) {
            throw new IllegalArgumentException("expected the header '" + expected + "'");
        }
    }

    private static String[] columns(String line, int expected) {
        String[] f = line.split(",", -1);
        if (f.length < expected) {
            throw new IllegalArgumentException(expected + " columns expected, found " + f.length);
        }
        for (int i = 0; i < f.length; i++) {
            f[i] = f[i].trim();
        }
        return f;
    }

    private static long number(JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException("missing field " + field);
        }
        if (!v.isNumber()) {
            throw new IllegalArgumentException(field + " is not a number: " + v);
        }
        return v.asLong();
    }

    private static int integer(String s, String column) {
        try {
            return (int) Math.min(Integer.MAX_VALUE, Long.parseLong(s));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(column + " '" + s + "' is not a whole number");
        }
    }

    private static int atLeastOne(long v) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, v));
    }

    private static String stripBom(String s) {
        return !s.isEmpty() && s.charAt(0) == '\uFEFF' ? s.substring(1) : s;
    }

    private static String abbreviate(String s) {
        return s.length() <= 120 ? s : s.substring(0, 117) + "...";
    }

    private static List<TraceRequest> normalise(List<TraceRequest> in) {
        List<TraceRequest> sorted = new ArrayList<>(in);
        sorted.sort(Comparator.comparingLong(TraceRequest::arrivalMs)); // stable: keeps file order on ties
        long t0 = sorted.get(0).arrivalMs();
        List<TraceRequest> out = new ArrayList<>(sorted.size());
        for (TraceRequest t : sorted) {
            out.add(new TraceRequest(t.arrivalMs() - t0, t.inputTokens(), t.outputTokens(), t.blockHashes()));
        }
        return out;
    }
}
