package io.inferq.ingress.api;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 on a plain socket, for what a well-behaved client never does: several requests written at once
 * (pipelining), a body shorter than its {@code Content-Length}, bytes that are not UTF-8. Reads answers one by one
 * ({@code Content-Length} or chunked bodies). Not thread-safe; close it.
 */
final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    /** One answer: status, headers (lower-case names), body. */
    record Answer(int status, Map<String, String> headers, String body) {
    }

    RawHttp(int port, int readTimeoutMs) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(readTimeoutMs);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    /** @return a complete request: {@code method path}, the headers given as pairs, and the body's UTF-8 bytes */
    static byte[] request(String method, String path, String body, String... headers) {
        return request(method, path, body == null ? null : body.getBytes(StandardCharsets.UTF_8), headers);
    }

    static byte[] request(String method, String path, byte[] body, String... headers) {
        StringBuilder sb = new StringBuilder(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (int i = 0; i + 1 < headers.length; i += 2) {
            sb.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
        }
        if (body != null) {
            sb.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        sb.append("\r\n");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (body != null) {
            b.writeBytes(body);
        }
        return b.toByteArray();
    }

    void write(byte[]... parts) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        out.write(b.toByteArray()); // in one write: the server sees them together
        out.flush();
    }

    /** @return the next answer, or null when the server closed the connection (or sent nothing within the timeout) */
    Answer read() throws IOException {
        String statusLine;
        try {
            statusLine = line();
        } catch (SocketTimeoutException e) {
            return null;
        }
        if (statusLine == null) {
            return null;
        }
        int status = Integer.parseInt(statusLine.split(" ")[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String h = line(); h != null && !h.isEmpty(); h = line()) {
            int c = h.indexOf(':');
            headers.put(h.substring(0, c).trim().toLowerCase(Locale.ROOT), h.substring(c + 1).trim());
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (headers.containsKey("content-length")) {
            body.writeBytes(in.readNBytes(Integer.parseInt(headers.get("content-length"))));
        } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            for (int size = Integer.parseInt(line().trim(), 16); size > 0; size = Integer.parseInt(line().trim(), 16)) {
                body.writeBytes(in.readNBytes(size));
                line();
            }
            line();
        }
        return new Answer(status, headers, body.toString(StandardCharsets.UTF_8));
    }

    /** @return up to {@code n} answers, fewer if the connection ends or goes quiet first */
    List<Answer> read(int n) throws IOException {
        List<Answer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Answer a = read();
            if (a == null) {
                break;
            }
            out.add(a);
        }
        return out;
    }

    /** @return whether the server closed the connection (end of stream) within the read timeout */
    boolean closedByServer() {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        }
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                String s = b.toString(StandardCharsets.ISO_8859_1);
                return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
            }
            b.write(c);
        }
        return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
