package io.inferq.broker.job;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The limits and field formats of an inference request that every way in shares — the HTTP API
 * ({@code ingress}) and the Kafka contract ({@code dispatcher}) — so both accept and refuse the same
 * things. Pure functions, stateless and thread-safe.
 */
public final class ChatRequestRules {
    public static final int MAX_MESSAGES = 2048;
    public static final int MAX_METADATA_PAIRS = 16;
    public static final int MAX_METADATA_KEY = 64;
    public static final int MAX_METADATA_VALUE = 512;
    public static final Duration MAX_DEADLINE = Duration.ofDays(7);
    public static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    public static final Set<String> WEBHOOK_EVENTS = Set.of("queued", "running", "completed");
    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h|d)");

    private ChatRequestRules() {
    }

    /** @return null when the URL is acceptable as a webhook target syntactically, else why not */
    public static String webhookProblem(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            return "'webhook' is not a valid URL: " + e.getReason();
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            return "'webhook' must use http or https";
        }
        if (uri.getHost() == null || uri.getHost().isBlank()) {
            return "'webhook' must name a host";
        }
        if (uri.getUserInfo() != null) {
            return "'webhook' must not carry credentials in the URL";
        }
        if (url.length() > 2048) {
            return "'webhook' is longer than 2048 characters";
        }
        return null;
    }

    /** @return milliseconds of {@code 90s}, {@code 5m}, {@code 1500ms}, {@code 2h}, {@code 1d} or ISO-8601 {@code PT30S}; null if neither */
    public static Long parseDuration(String s) {
        Matcher m = DURATION.matcher(s);
        if (m.matches()) {
            long v = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> v;
                case "s" -> v * 1000;
                case "m" -> v * 60_000;
                case "h" -> v * 3_600_000;
                default -> v * 86_400_000;
            };
        }
        try {
            return Duration.parse(s).toMillis();
        } catch (DateTimeParseException | ArithmeticException e) {
            return null;
        }
    }

    /** @return epoch ms of an RFC 3339 timestamp, or null */
    public static Long parseTimestamp(String s) {
        try {
            return Instant.parse(s).toEpochMilli();
        } catch (DateTimeParseException e) {
            try {
                return OffsetDateTime.parse(s).toInstant().toEpochMilli();
            } catch (DateTimeParseException e2) {
                return null;
            }
        }
    }

    /** @return epoch ms of a body {@code deadline}: RFC 3339 string or epoch seconds; null if neither */
    public static Long parseDeadline(Object deadline) {
        if (deadline instanceof Number n) {
            double v = n.doubleValue();
            return v > 0 && v < 1e11 ? (long) (v * 1000) : null;
        }
        return deadline instanceof String s ? parseTimestamp(s) : null;
    }

    /** @return {@code s}, cut to 40 characters for an error message */
    public static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "…";
    }
}
