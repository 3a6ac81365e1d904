package io.inferq.loadtests.report;

import java.util.List;
import java.util.Locale;

/** Inline SVG line charts for self-contained reports (no scripts, no network). Stateless. */
public final class Svg {
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
        "#17becf", "#7f7f7f", "#bcbd22"};
    private static final int W = 660;
    private static final int H = 300;
    private static final int L = 64;
    private static final int R = 170;
    private static final int T = 34;
    private static final int B = 44;

    private Svg() {
    }

    /** One line: points (x[i], y[i]); NaN points are skipped. */
    public record Series(String name, double[] x, double[] y) {
    }

    /** A CDF series of {@code values} (sorted copy; NaN dropped). */
    public static Series cdf(String name, double[] values) {
        double[] v = java.util.Arrays.stream(values).filter(d -> !Double.isNaN(d)).sorted().toArray();
        int n = v.length;
        int step = Math.max(1, n / 400);
        int pts = n == 0 ? 0 : (n - 1) / step + 2;
        double[] x = new double[pts];
        double[] y = new double[pts];
        int k = 0;
        for (int i = 0; i < n && k < pts - 1; i += step) {
            x[k] = v[i];
            y[k++] = (i + 1) / (double) n;
        }
        if (n > 0) {
            x[k] = v[n - 1];
            y[k++] = 1.0;
        }
        return new Series(name, java.util.Arrays.copyOf(x, k), java.util.Arrays.copyOf(y, k));
    }

    /** A line chart with axes, ticks and a legend; {@code cssClass} marks the chart kind for tests. */
    public static String chart(String cssClass, String title, String xLabel, String yLabel, List<Series> series) {
        double minX = Double.POSITIVE_INFINITY;
        double maxX = Double.NEGATIVE_INFINITY;
        double maxY = 0;
        double minY = 0;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isFinite(s.x()[i]) && Double.isFinite(s.y()[i])) {
                    minX = Math.min(minX, s.x()[i]);
                    maxX = Math.max(maxX, s.x()[i]);
                    maxY = Math.max(maxY, s.y()[i]);
                    minY = Math.min(minY, s.y()[i]);
                }
            }
        }
        if (!Double.isFinite(minX)) {
            minX = 0;
            maxX = 1;
        }
        if (maxX <= minX) {
            maxX = minX + 1;
        }
        if (maxY <= minY) {
            maxY = minY + 1;
        }
        maxY = niceCeil(maxY);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg class=\"chart %s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">", esc(cssClass), W, H, W, H));
        sb.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#ccc\"/>", W, H));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">%s</text>", L, esc(title)));
        int pw = W - L - R;
        int ph = H - T - B;
        for (int i = 0; i <= 5; i++) {
            double fy = minY + (maxY - minY) * i / 5;
            double py = T + ph - ph * i / 5.0;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", L, L + pw, py, py));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", L - 4, py + 4, fmt(fy)));
            double fx = minX + (maxX - minX) * i / 5;
            double px = L + pw * i / 5.0;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", px, px, T, T + ph));
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", px, T + ph + 14, fmt(fx)));
        }
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>", L, T, pw, ph));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>", L + pw / 2, H - 8, esc(xLabel)));
        sb.append(String.format(Locale.ROOT, "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>", T + ph / 2, esc(yLabel)));
        for (int s = 0; s < series.size(); s++) {
            Series se = series.get(s);
            String color = COLORS[s % COLORS.length];
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < se.x().length; i++) {
                if (!Double.isFinite(se.x()[i]) || !Double.isFinite(se.y()[i])) {
                    continue;
                }
                double px = L + pw * (se.x()[i] - minX) / (maxX - minX);
                double py = T + ph - ph * (se.y()[i] - minY) / (maxY - minY);
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", px, py));
            }
            sb.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"%s\"/>", color, pts.toString().trim()));
            int ly = T + 10 + s * 16;
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>", L + pw + 10, L + pw + 28, ly, ly, color));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>", L + pw + 32, ly + 4, esc(se.name())));
        }
        if (series.stream().allMatch(s -> s.x().length == 0)) {
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#999\">no data</text>", L + pw / 2, T + ph / 2));
        }
        return sb.append("</svg>").toString();
    }

    private static double niceCeil(double v) {
        double mag = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10}) {
            if (m * mag >= v) {
                return m * mag;
            }
        }
        return 10 * mag;
    }

    static String fmt(double v) {
        double a = Math.abs(v);
        if (a >= 1e6) {
            return String.format(Locale.ROOT, "%.1fM", v / 1e6);
        }
        if (a >= 1e4) {
            return String.format(Locale.ROOT, "%.0fk", v / 1e3);
        }
        if (a >= 100 || v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        return String.format(Locale.ROOT, a >= 1 ? "%.1f" : "%.2f", v);
    }

    public static String esc(String s) {
        return s == null ? "" : s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
