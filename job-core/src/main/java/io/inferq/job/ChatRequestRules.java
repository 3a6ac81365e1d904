package io.inferq.job;

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
        if (uri.getPort() == 0 || uri.getPort() > 65535) {
            return "'webhook' port must be 1-65535, was " + uri.getPort();
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

    /**
     * Whether a JSON number is a whole number, judged on its exact value: a {@link java.math.BigDecimal} or
     * {@link java.math.BigInteger} from the parser by its digits, never by a {@code double} that rounds
     * {@code 4.0000000000000000001} to 4.
     */
    public static boolean isWholeNumber(Number n) {
        if (n instanceof java.math.BigDecimal d) {
            return d.signum() == 0 || d.stripTrailingZeros().scale() <= 0;
        }
        if (n instanceof Double || n instanceof Float) {
            double v = n.doubleValue();
            return !Double.isInfinite(v) && !Double.isNaN(v) && v == Math.rint(v);
        }
        return n != null;
    }

    /**
     * The exact value of a whole JSON number as a {@code long}, saturated to {@link Long#MIN_VALUE} /
     * {@link Long#MAX_VALUE} beyond that range, so a range check refuses it instead of seeing a wrapped value
     * ({@code 2^64 + 4} is not 4). Use after {@link #isWholeNumber}. Cheap for any input (a huge exponent is not
     * expanded).
     */
    public static long saturatedLong(Number n) {
        if (n instanceof java.math.BigInteger b) {
            return b.bitLength() <= 63 ? b.longValue() : b.signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
        }
        if (n instanceof java.math.BigDecimal d) {
            if (d.signum() == 0) {
                return 0;
            }
            if (d.precision() - d.scale() > 19) { // at least 10^19 in magnitude
                return d.signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
            }
            try {
                return d.setScale(0, java.math.RoundingMode.DOWN).longValueExact();
            } catch (ArithmeticException e) {
                return d.signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
            }
        }
        if (n instanceof Double || n instanceof Float) {
            return (long) n.doubleValue(); // the cast saturates
        }
        return n.longValue(); // Integer, Long, Short, Byte: exact
    }

    /** @return the number as the client wrote it, for an error message (exact; a huge exponent stays short) */
    public static String exactText(Number n) {
        String s = n instanceof java.math.BigDecimal d ? d.toString() : String.valueOf(n);
        return abbreviate(s);
    }

    /** @return {@code s}, cut to 40 characters for an error message */
    public static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "…";
    }
}
