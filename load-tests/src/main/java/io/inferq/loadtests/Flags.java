package io.inferq.loadtests;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} and {@code --switch} command-line flags. Every flag a command reads is recorded, so
 * {@link #rejectUnknown()} can name a misspelt one instead of silently ignoring it. Not thread-safe.
 */
public final class Flags {
    private final Map<String, String> values = new LinkedHashMap<>();
    private final Set<String> read = new LinkedHashSet<>();

    private Flags() {
    }

    /** @throws IllegalArgumentException naming the argument that is not a flag */
    public static Flags parse(List<String> args) {
        Flags f = new Flags();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith("--") || a.length() < 3) {
                throw new IllegalArgumentException("expected a --flag, got '" + a + "'");
            }
            String name = a.substring(2);
            int eq = name.indexOf('=');
            if (eq > 0) {
                f.values.put(name.substring(0, eq), name.substring(eq + 1));
            } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
                f.values.put(name, args.get(++i));
            } else {
                f.values.put(name, "true");
            }
        }
        return f;
    }

    public String string(String name, String dflt) {
        read.add(name);
        return values.getOrDefault(name, dflt);
    }

    public boolean has(String name) {
        read.add(name);
        return values.containsKey(name);
    }

    public boolean bool(String name) {
        String v = string(name, "false");
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("--" + name + " takes no value or true/false, was '" + v + "'");
        }
        return Boolean.parseBoolean(v);
    }

    public long longValue(String name, long dflt) {
        String v = string(name, null);
        try {
            return v == null ? dflt : (long) Double.parseDouble(v.replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a number, was '" + v + "'", e);
        }
    }

    public int intValue(String name, int dflt) {
        long v = longValue(name, dflt);
        if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) {
            throw new IllegalArgumentException("--" + name + " is out of range: " + v);
        }
        return (int) v;
    }

    public double doubleValue(String name, double dflt) {
        String v = string(name, null);
        try {
            return v == null ? dflt : Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a number, was '" + v + "'", e);
        }
    }

    public double positive(String name, double dflt) {
        double v = doubleValue(name, dflt);
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("--" + name + " must be positive, was " + v);
        }
        return v;
    }

    /** @throws IllegalArgumentException if a flag was given that no code asked for */
    public void rejectUnknown() {
        for (String k : values.keySet()) {
            if (!read.contains(k)) {
                throw new IllegalArgumentException("unknown flag --" + k + "; known: --" + String.join(", --", read));
            }
        }
    }
}
