package io.inferq.ingress.batch;

import io.inferq.ingress.api.ApiError;
import io.inferq.ingress.api.JobSubmission;
import io.inferq.ingress.api.JobSubmissionParser;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
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

    static void scan(InputStream in, JobSubmissionParser parser, String endpoint, long nowMs, Sink sink) throws IOException {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 64 * 1024)) {
            String text;
            int number = 0;
            while ((text = r.readLine()) != null) {
                number++;
                if (text.isBlank()) {
                    continue;
                }
                if (!sink.accept(check(number, text, parser, endpoint, nowMs))) {
                    return;
                }
            }
        }
    }

    static Line check(int n, String text, JobSubmissionParser parser, String endpoint, long nowMs) {
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
        JobSubmissionParser.Parsed parsed = parser.parse(body, null, nowMs, text);
        if (parsed.error() == null && Boolean.TRUE.equals(body.getValue("stream"))) {
            // a batch line's answer goes to the output file: there is no connection to stream it to
            return error(n, customId, "unsupported_parameter", "line " + n + ": 'stream' is not supported in a batch (results go "
                    + "to the output file)", "body.stream");
        }
        if (parsed.error() != null) {
            ApiError e = parsed.error();
            return error(n, customId, e.code(), "line " + n + ": " + e.message(), e.param() == null ? "body" : "body." + e.param());
        }
        return new Line(n, customId, parsed.submission(), null, null, null);
    }

    private static Line error(int n, String customId, String code, String message, String param) {
        return new Line(n, customId, null, code, message, param);
    }
}
