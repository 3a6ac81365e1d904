package io.inferq.kvcache.trace;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the Mooncake trace format: one JSON object per line,
 * {@code {"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [..]}}. Only these four
 * flat fields are understood (no JSON library needed). Stateless; blocking file I/O.
 */
public final class MooncakeTrace {

    private MooncakeTrace() {
    }

    /**
     * @throws UncheckedIOException     if the file cannot be read
     * @throws IllegalArgumentException on a malformed line (with its line number)
     */
    public static List<TraceRequest> read(Path file) {
        List<TraceRequest> out = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (!line.isBlank()) {
                    try {
                        out.add(parse(line));
                    } catch (RuntimeException e) {
                        throw new IllegalArgumentException(file + ":" + lineNo + ": malformed trace line: " + e.getMessage(), e);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static TraceRequest parse(String line) {
        long ts = Long.parseLong(field(line, "timestamp"));
        int in = Integer.parseInt(field(line, "input_length"));
        int outLen = Integer.parseInt(field(line, "output_length"));
        String ids = field(line, "hash_ids");
        if (!ids.startsWith("[") || !ids.endsWith("]")) {
            throw new IllegalArgumentException("hash_ids is not an array");
        }
        List<Long> hashIds = new ArrayList<>();
        String body = ids.substring(1, ids.length() - 1).trim();
        if (!body.isEmpty()) {
            for (String part : body.split(",")) {
                hashIds.add(Long.parseLong(part.trim()));
            }
        }
        return new TraceRequest(ts, in, outLen, hashIds);
    }

    private static String field(String line, String name) {
        String key = "\"" + name + "\"";
        int k = line.indexOf(key);
        if (k < 0) {
            throw new IllegalArgumentException("missing field " + name);
        }
        int colon = line.indexOf(':', k + key.length());
        int start = colon + 1;
        while (start < line.length() && Character.isWhitespace(line.charAt(start))) {
            start++;
        }
        int end;
        if (line.charAt(start) == '[') {
            end = line.indexOf(']', start) + 1;
        } else {
            end = start;
            while (end < line.length() && line.charAt(end) != ',' && line.charAt(end) != '}') {
                end++;
            }
        }
        return line.substring(start, end).trim();
    }
}
