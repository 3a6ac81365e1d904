package io.inferq.ingress.batch;

import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.JobSubmission;
import io.inferq.ingress.api.JobSubmissionParser;
import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads a batch input file line by line (streamed: one line in memory at a time) and checks each request line:
 * {@code {custom_id, method: "POST", url: <the batch's endpoint>, body}} whose body {@code POST /v1/jobs} would accept
 * (the same parser, so the same rules and codes). Blank lines are skipped; line numbers are 1-based physical lines.
 */
final class BatchInput {
    static final int MAX_CUSTOM_ID = 512;

    /** One line: a valid request (submission set) or an error (code, message, param). */
    record Line(int number, String customId, JobSubmission submission, String code, String message, String param) {
        boolean valid() {
            return submission != null;
        }

        JsonObject errorJson() {
            return new JsonObject().put("code", code).put("message", message).put("param", param).put("line", number);
        }
    }

    interface Sink {
        /** @return false to stop reading */
        boolean accept(Line line);
    }

    private BatchInput() {
    }

    /**
     * Reads {@code in} line by line and hands each checked line to {@code sink}.
     *
     * @param webhookTargets null when a line's {@code webhook} URL may be called, else why not (the SSRF rules HTTP
     *                       submits are held to)
     */
    static void scan(InputStream in, JobSubmissionParser parser, java.util.function.UnaryOperator<String> webhookTargets,
            String endpoint, long nowMs, Sink sink) throws IOException {
        // each physical line is decoded on its own, reporting bytes that are not UTF-8 (as over HTTP) on that line rather
        // than turning them into U+FFFD unnoticed
        java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        try (java.io.BufferedInputStream r = new java.io.BufferedInputStream(in, 64 * 1024)) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            int number = 0;
            while (true) {
                int b = r.read();
                if (b != -1 && b != '\n') {
                    bytes.write(b);
                    continue;
                }
                if (b == -1 && bytes.size() == 0) {
                    return;
                }
                number++;
                byte[] raw = bytes.toByteArray();
                bytes.reset();
                int len = raw.length > 0 && raw[raw.length - 1] == '\r' ? raw.length - 1 : raw.length;
                String text;
                try {
                    text = utf8.decode(java.nio.ByteBuffer.wrap(raw, 0, len)).toString();
                } catch (java.nio.charset.CharacterCodingException e) {
                    if (!sink.accept(error(number, null, "invalid_encoding", "line " + number + " is not valid UTF-8", null))) {
                        return;
                    }
                    continue;
                }
                if (!text.isBlank() && !sink.accept(check(number, text, parser, webhookTargets, endpoint, nowMs))) {
                    return;
                }
                if (b == -1) {
                    return;
                }
            }
        }
    }

    static Line check(int n, String text, JobSubmissionParser parser, java.util.function.UnaryOperator<String> webhookTargets,
            String endpoint, long nowMs) {
        JsonObject json;
        try {
            Object v = Json.decodeValue(text);
            if (!(v instanceof JsonObject o)) {
                return error(n, null, "invalid_json_line", "line " + n + " is not a JSON object", null);
            }
            json = o;
        } catch (RuntimeException e) {
            return error(n, null, "invalid_json_line", "line " + n + " is not valid JSON", null);
        }
        String duplicate = duplicateKey(text);
        if (duplicate != null) {
            // as over HTTP: a key given twice is refused, not silently resolved to its last value
            return error(n, null, "duplicate_key", "line " + n + ": the key '" + duplicate + "' appears more than once in one object",
                    null);
        }
        Object cid = json.getValue("custom_id");
        if (!(cid instanceof String customId) || customId.isEmpty()) {
            return error(n, null, "missing_custom_id", "line " + n + ": 'custom_id' is required and must be a non-empty string",
                    "custom_id");
        }
        if (customId.length() > MAX_CUSTOM_ID) {
            return error(n, customId, "invalid_custom_id", "line " + n + ": 'custom_id' may have at most " + MAX_CUSTOM_ID
                    + " characters", "custom_id");
        }
        if (!"POST".equals(json.getValue("method"))) {
            return error(n, customId, "invalid_method", "line " + n + ": 'method' must be \"POST\"", "method");
        }
        if (!endpoint.equals(json.getValue("url"))) {
            return error(n, customId, "invalid_url", "line " + n + ": 'url' must be \"" + endpoint + "\", the batch's endpoint", "url");
        }
        if (!(json.getValue("body") instanceof JsonObject body)) {
            return error(n, customId, "invalid_body", "line " + n + ": 'body' must be a chat-completions request object", "body");
        }
        JobSubmission submission;
        try {
            submission = parser.parse(body, null, nowMs, text);
        } catch (RequestRejected rejected) {
            RequestError e = rejected.error();
            return error(n, customId, e.code(), "line " + n + ": " + e.message(), e.param() == null ? "body" : "body." + e.param());
        }
        if (Boolean.TRUE.equals(body.getValue("stream"))) {
            // a batch line's answer goes to the output file: there is no connection to stream it to
            return error(n, customId, "unsupported_parameter", "line " + n + ": 'stream' is not supported in a batch (results go "
                    + "to the output file)", "body.stream");
        }
        String webhook = submission.webhookUrl();
        String refused = webhook == null ? null : webhookTargets.apply(webhook);
        if (refused != null) {
            // as over HTTP: a target the webhook rules refuse (a private address, say) is refused when the line is read
            return error(n, customId, "invalid_webhook", "line " + n + ": " + refused, "body.webhook");
        }
        return new Line(n, customId, submission, null, null, null);
    }

    private static final com.fasterxml.jackson.core.JsonFactory STRICT = com.fasterxml.jackson.core.JsonFactory.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** @return the first key that appears twice in one object of {@code text} (valid JSON), or null */
    private static String duplicateKey(String text) {
        try (com.fasterxml.jackson.core.JsonParser p = STRICT.createParser(text)) {
            while (p.nextToken() != null) {
                // every token is read: the parser checks each object's keys as it goes
            }
            return null;
        } catch (com.fasterxml.jackson.core.JsonParseException e) {
            String m = String.valueOf(e.getOriginalMessage());
            int q = m.indexOf('\'');
            return m.startsWith("Duplicate field") && q >= 0 ? m.substring(q + 1, Math.max(q + 1, m.indexOf('\'', q + 1))) : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static Line error(int n, String customId, String code, String message, String param) {
        return new Line(n, customId, null, code, message, param);
    }
}
