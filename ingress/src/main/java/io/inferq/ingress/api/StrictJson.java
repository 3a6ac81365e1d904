package io.inferq.ingress.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.inferq.job.ChatRequestRules;
import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads a request body exactly, for a request that becomes a durable job: the bytes must be UTF-8 (no silent
 * replacement characters), every object key appears once (a second {@code max_tokens} must not silently win), and
 * numbers keep their exact value ({@link java.math.BigInteger} and {@link BigDecimal}, never a {@code double} or a
 * wrapped {@code long}). Also yields the body's canonical form (keys sorted, no whitespace, numbers normalised), so
 * two bodies that are the same JSON are the same request for idempotency.
 *
 * <p>Stateless and thread-safe; pure CPU work bounded by the body size (nesting at most {@value #MAX_DEPTH}).
 */
final class StrictJson {
    static final int MAX_DEPTH = 128;
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).maxNumberLength(1000).build())
            .build();

    private StrictJson() {
    }

    /** The body as a JSON object tree (values: maps, lists, strings, numbers, booleans, null) and its canonical text. */
    record Read(JsonObject object, String canonical) {
    }

    /** @throws RequestRejected when the body is not UTF-8 or not one JSON object with each key once */
    static Read read(byte[] body) {
        String text;
        try {
            CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            text = utf8.decode(ByteBuffer.wrap(body)).toString();
        } catch (CharacterCodingException e) {
            throw fail(RequestError.invalid("invalid_encoding", "the request body is not valid UTF-8 (" + e.getMessage()
                    + " near byte " + firstBadByte(body) + "); send the JSON encoded as UTF-8", null));
        }
        return read(text);
    }

    /** @throws RequestRejected when the text is not one JSON object with each key once */
    static Read read(String text) {
        Object root = null;
        RequestError problem = null; // thrown after the parser's own failures are caught
        try (JsonParser p = FACTORY.createParser(text)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                problem = RequestError.invalid("invalid_json", "the request body is empty; send a chat-completions JSON object", null);
            } else {
                root = value(p, first, "");
                if (p.nextToken() != null) {
                    problem = RequestError.invalid("invalid_json", "the request body has more after its JSON value", null);
                }
            }
        } catch (DuplicateKey d) {
            throw fail(RequestError.invalid("duplicate_key", "the key '" + ChatRequestRules.abbreviate(d.key) + "' appears more than once"
                    + (d.where.isEmpty() ? "" : " in '" + ChatRequestRules.abbreviate(d.where) + "'")
                    + "; each key may appear only once", d.param()));
        } catch (IOException | RuntimeException e) {
            throw fail(RequestError.invalid("invalid_json", "the request body is not valid JSON: " + firstLine(e.getMessage()), null));
        }
        if (problem != null) {
            throw fail(problem);
        }
        if (!(root instanceof Map<?, ?>)) {
            throw fail(RequestError.invalid("invalid_json", "the request body must be a JSON object", null));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) root;
        StringBuilder canonical = new StringBuilder(text.length());
        canonical(root, canonical);
        return new Read(new JsonObject(map), canonical.toString());
    }

    private static RequestRejected fail(RequestError e) {
        return e.rejected();
    }

    private static Object value(JsonParser p, JsonToken t, String path) throws IOException {
        switch (t) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    String key = p.currentName();
                    String child = path.isEmpty() ? key : path + "." + key;
                    if (m.containsKey(key)) {
                        throw new DuplicateKey(key, path, child);
                    }
                    m.put(key, value(p, p.nextToken(), child));
                }
                return m;
            }
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                for (JsonToken v = p.nextToken(); v != JsonToken.END_ARRAY; v = p.nextToken()) {
                    l.add(value(p, v, path + "[" + l.size() + "]"));
                }
                return l;
            }
            case VALUE_STRING -> {
                return p.getText();
            }
            case VALUE_NUMBER_INT -> {
                return switch (p.getNumberType()) {
                    case INT, LONG -> p.getLongValue();
                    default -> p.getBigIntegerValue();
                };
            }
            case VALUE_NUMBER_FLOAT -> {
                return p.getDecimalValue();
            }
            case VALUE_TRUE -> {
                return Boolean.TRUE;
            }
            case VALUE_FALSE -> {
                return Boolean.FALSE;
            }
            case VALUE_NULL -> {
                return null;
            }
            default -> throw new IOException("unexpected " + t);
        }
    }

    /** Keys in sorted order, no whitespace, strings JSON-escaped, numbers as their stripped decimal value. */
    private static void canonical(Object v, StringBuilder out) {
        if (v instanceof Map<?, ?> m) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : new TreeMap<>(m).entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                string((String) e.getKey(), out);
                out.append(':');
                canonical(e.getValue(), out);
            }
            out.append('}');
        } else if (v instanceof List<?> l) {
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                canonical(l.get(i), out);
            }
            out.append(']');
        } else if (v instanceof String s) {
            string(s, out);
        } else if (v instanceof Number n) {
            BigDecimal d = n instanceof BigDecimal bd ? bd : n instanceof java.math.BigInteger bi ? new BigDecimal(bi)
                    : BigDecimal.valueOf(n.longValue());
            out.append(d.signum() == 0 ? "0" : d.stripTrailingZeros().toString());
        } else {
            out.append(v); // true, false, null
        }
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        JsonStringEncoder.getInstance().quoteAsString(s, out);
        out.append('"');
    }

    private static int firstBadByte(byte[] body) {
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(body);
        CharBuffer out = CharBuffer.allocate(body.length + 1);
        utf8.decode(in, out, true);
        return in.position();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** A key seen twice in one object; unwinds the recursive read. */
    private static final class DuplicateKey extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final String key;
        private final String where;
        private final String child;

        DuplicateKey(String key, String where, String child) {
            super(null, null, false, false);
            this.key = key;
            this.where = where;
            this.child = child;
        }

        String param() {
            return ChatRequestRules.abbreviate(child);
        }
    }
}
