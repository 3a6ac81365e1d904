package io.inferq.ingress.files;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A streaming {@code multipart/form-data} reader: fed the request body buffer by buffer, it reports each part's start
 * (name, filename), its content in pieces, and its end, holding back only enough bytes to recognise a boundary split
 * across buffers. So a part is never held whole in memory, whether or not it names a filename (the HTTP server's own
 * decoder buffers a part without a filename as a form field). Not thread-safe: feed it from one context.
 */
final class MultipartReader {
    /** Receives the parts. */
    interface Listener {
        void partStart(String name, String filename);

        void partData(byte[] data);

        void partEnd();
    }

    /** The body is not valid multipart. */
    static final class MalformedMultipart extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedMultipart(String message) {
            super(message);
        }
    }

    private static final int MAX_HEADER_BYTES = 16 * 1024;
    private static final Pattern NAME = Pattern.compile("(?:^|;)\\s*name=\"([^\"]*)\"", Pattern.CASE_INSENSITIVE);
    private static final Pattern FILENAME = Pattern.compile("(?:^|;)\\s*filename=\"([^\"]*)\"", Pattern.CASE_INSENSITIVE);
    private static final Pattern BOUNDARY = Pattern.compile("boundary=(?:\"([^\"]+)\"|([^;\\s]+))", Pattern.CASE_INSENSITIVE);

    private enum State { PREAMBLE, AFTER_BOUNDARY, HEADERS, BODY, END }

    private final byte[] first;     // --boundary
    private final byte[] delimiter; // \r\n--boundary
    private final Listener listener;
    private byte[] pending = new byte[0];
    private State state = State.PREAMBLE;

    MultipartReader(String boundary, Listener listener) {
        this.first = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        this.delimiter = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        this.listener = listener;
    }

    /** @return the boundary of a {@code multipart/form-data} content type, or null */
    static String boundaryOf(String contentType) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            return null;
        }
        Matcher m = BOUNDARY.matcher(contentType);
        if (!m.find()) {
            return null;
        }
        return m.group(1) != null ? m.group(1) : m.group(2);
    }

    boolean finished() {
        return state == State.END;
    }

    void feed(byte[] data) {
        if (state == State.END) {
            return;
        }
        byte[] buf = new byte[pending.length + data.length];
        System.arraycopy(pending, 0, buf, 0, pending.length);
        System.arraycopy(data, 0, buf, pending.length, data.length);
        int at = 0;
        while (true) {
            switch (state) {
                case PREAMBLE -> {
                    int i = indexOf(buf, first, at);
                    if (i < 0) {
                        at = Math.max(at, buf.length - first.length + 1);
                        pending = Arrays.copyOfRange(buf, at, buf.length);
                        return;
                    }
                    at = i + first.length;
                    state = State.AFTER_BOUNDARY;
                }
                case AFTER_BOUNDARY -> {
                    if (buf.length - at < 2) {
                        pending = Arrays.copyOfRange(buf, at, buf.length);
                        return;
                    }
                    if (buf[at] == '-' && buf[at + 1] == '-') {
                        state = State.END;
                        pending = new byte[0];
                        return;
                    }
                    // transport padding then CRLF
                    int crlf = indexOf(buf, new byte[] {'\r', '\n'}, at);
                    if (crlf < 0) {
                        pending = Arrays.copyOfRange(buf, at, buf.length);
                        return;
                    }
                    at = crlf + 2;
                    state = State.HEADERS;
                }
                case HEADERS -> {
                    int end = indexOf(buf, new byte[] {'\r', '\n', '\r', '\n'}, at);
                    if (end < 0) {
                        if (buf.length - at > MAX_HEADER_BYTES) {
                            throw new MalformedMultipart("a part's headers are longer than " + MAX_HEADER_BYTES + " bytes");
                        }
                        pending = Arrays.copyOfRange(buf, at, buf.length);
                        return;
                    }
                    String headers = new String(buf, at, end - at, StandardCharsets.UTF_8);
                    at = end + 4;
                    String name = null;
                    String filename = null;
                    for (String h : headers.split("\r\n")) {
                        int colon = h.indexOf(':');
                        if (colon > 0 && h.substring(0, colon).trim().equalsIgnoreCase("Content-Disposition")) {
                            String v = h.substring(colon + 1);
                            Matcher n = NAME.matcher(v);
                            if (n.find()) {
                                name = n.group(1);
                            }
                            Matcher f = FILENAME.matcher(v);
                            if (f.find()) {
                                filename = f.group(1);
                            }
                        }
                    }
                    if (name == null) {
                        throw new MalformedMultipart("a part has no Content-Disposition name");
                    }
                    listener.partStart(name, filename);
                    state = State.BODY;
                }
                case BODY -> {
                    int i = indexOf(buf, delimiter, at);
                    if (i < 0) {
                        int safe = Math.max(at, buf.length - delimiter.length + 1);
                        if (safe > at) {
                            listener.partData(Arrays.copyOfRange(buf, at, safe));
                        }
                        pending = Arrays.copyOfRange(buf, safe, buf.length);
                        return;
                    }
                    if (i > at) {
                        listener.partData(Arrays.copyOfRange(buf, at, i));
                    }
                    listener.partEnd();
                    at = i + delimiter.length;
                    state = State.AFTER_BOUNDARY;
                }
                case END -> {
                    pending = new byte[0];
                    return;
                }
                default -> throw new IllegalStateException(state.name());
            }
        }
    }

    private static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
