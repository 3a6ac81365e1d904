package io.inferq.job;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import io.inferq.job.request.ModelLimits;
import io.inferq.job.request.RequestError;
import io.inferq.job.request.RequestRejected;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The limits, field formats and checks of an inference request that every way in shares — the HTTP API and batch lines
 * ({@code ingress}) and the Kafka contract ({@code dispatcher}) — so all accept and refuse the same things with the same
 * error codes and messages. A check that fails throws {@link RequestRejected} carrying the {@link RequestError}; each
 * entry point catches it at its edge. Pure functions, stateless and thread-safe.
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

    // ---- checks: each throws RequestRejected with the error every entry point reports -----------------------------

    /** A {@link RequestError.Kind#INVALID} refusal, to throw. */
    public static RequestRejected invalid(String code, String message, String param) {
        return RequestError.invalid(code, message, param).rejected();
    }

    /** @return the served model named {@code model} (null: missing or not a string) */
    public static <M extends ModelLimits> M model(String model, Map<String, M> models) {
        if (model == null || model.isBlank()) {
            throw invalid("missing_model", "'model' is required and must be a string", "model");
        }
        M served = models.get(model);
        if (served == null) {
            throw new RequestError(RequestError.Kind.UNKNOWN_MODEL, "model_not_found", "the model '" + abbreviate(model)
                    + "' does not exist or is not served here; served models: " + models.keySet(), "model").rejected();
        }
        return served;
    }

    public static void messageCount(int n) {
        if (n == 0) {
            throw invalid("invalid_messages", "'messages' must contain at least one message", "messages");
        }
        if (n > MAX_MESSAGES) {
            throw invalid("invalid_messages", "'messages' has " + n + " entries; at most " + MAX_MESSAGES + " are accepted", "messages");
        }
    }

    /** @return the role of message {@code i} */
    public static String role(int i, Object role) {
        if (!(role instanceof String r) || !ROLES.contains(r)) {
            String param = "messages[" + i + "].role";
            throw invalid("invalid_role", param + " must be one of " + new java.util.TreeSet<>(ROLES)
                    + ", was " + (role == null ? "missing" : "'" + role + "'"), param);
        }
        return r;
    }

    /** The prompt estimate every entry point uses: a token per 4 characters plus 4 per message. */
    public static int estimatePromptTokens(long chars, int messages) {
        return (int) Math.min(Integer.MAX_VALUE, (chars + 3) / 4 + 4L * messages);
    }

    /**
     * @param requested the whole number asked for (saturated, {@link #saturatedLong}), or null for the default
     *                  ({@code min(1024, max output)})
     * @param shown     the number as the client wrote it, for the message
     */
    public static int maxTokens(Long requested, String shown, ModelLimits served) {
        if (requested == null) {
            return Math.min(1024, served.maxOutputTokens());
        }
        if (requested < 1 || requested > served.maxOutputTokens()) {
            throw invalid("invalid_max_tokens", "'max_tokens' must be between 1 and " + served.maxOutputTokens() + " for "
                    + served.id() + ", was " + shown, "max_tokens");
        }
        return requested.intValue();
    }

    public static void context(int promptTokens, int maxTokens, ModelLimits served) {
        if ((long) promptTokens + maxTokens > served.contextTokens()) {
            throw invalid("context_length_exceeded", "the prompt (about " + promptTokens + " tokens) plus max_tokens (" + maxTokens
                    + ") exceeds " + served.id() + "'s context of " + served.contextTokens() + " tokens", "messages");
        }
    }

    /** @param t null: not given */
    public static void temperature(Double t) {
        if (t != null && (t.isNaN() || t < 0 || t > 2)) {
            throw invalid("invalid_temperature", "'temperature' must be a number between 0 and 2", "temperature");
        }
    }

    /** @param url null: no webhook */
    public static void webhook(String url) {
        if (url == null) {
            return;
        }
        String problem = webhookProblem(url);
        if (problem != null) {
            throw invalid("invalid_webhook", problem, "webhook");
        }
    }

    /** @return the event name */
    public static String webhookEvent(Object ev) {
        if (!(ev instanceof String s) || !WEBHOOK_EVENTS.contains(s)) {
            throw invalid("invalid_webhook_events_filter", "'webhook_events_filter' may contain only 'queued', 'running', 'completed', found "
                    + ev, "webhook_events_filter");
        }
        return s;
    }

    public static void metadataSize(int pairs) {
        if (pairs > MAX_METADATA_PAIRS) {
            throw invalid("invalid_metadata", "'metadata' has " + pairs + " pairs; at most " + MAX_METADATA_PAIRS + " are allowed", "metadata");
        }
    }

    /** @return the value */
    public static String metadataPair(String k, Object v) {
        if (k.length() > MAX_METADATA_KEY || !(v instanceof String sv) || sv.length() > MAX_METADATA_VALUE) {
            throw invalid("invalid_metadata", "metadata keys must be at most " + MAX_METADATA_KEY + " characters and values strings of at most "
                    + MAX_METADATA_VALUE + " characters (key '" + abbreviate(k) + "')", "metadata." + abbreviate(k));
        }
        return sv;
    }

    /**
     * A deadline must lie after {@code fromMs} and at most {@link #MAX_DEADLINE} beyond it.
     *
     * @param deadlineAtMs null: none
     * @param fromMs       the request's time (HTTP: now; Kafka: when the record was produced)
     * @param pastMessage  what to say of a deadline not after {@code fromMs}
     */
    public static void deadline(Long deadlineAtMs, long fromMs, String pastMessage) {
        if (deadlineAtMs == null) {
            return;
        }
        if (deadlineAtMs <= fromMs) {
            throw invalid("invalid_deadline", pastMessage, "deadline");
        }
        if (deadlineAtMs - fromMs > MAX_DEADLINE.toMillis()) {
            throw invalid("invalid_deadline", "the deadline is more than " + MAX_DEADLINE.toDays() + " days away", "deadline");
        }
    }
}
