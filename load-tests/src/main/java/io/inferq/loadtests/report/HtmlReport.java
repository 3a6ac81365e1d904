package io.inferq.loadtests.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Assembles a self-contained HTML page (inline CSS and SVG; nothing is fetched). Not thread-safe. */
public final class HtmlReport {
    private final StringBuilder body = new StringBuilder();
    private final String title;

    public HtmlReport(String title) {
        this.title = title;
    }

    public HtmlReport heading(String text) {
        body.append("<h2>").append(Svg.esc(text)).append("</h2>\n");
        return this;
    }

    public HtmlReport paragraph(String text) {
        body.append("<p>").append(Svg.esc(text)).append("</p>\n");
        return this;
    }

    /** A two-column key/value table. */
    public HtmlReport keyValues(Map<String, ?> kv) {
        body.append("<table>");
        kv.forEach((k, v) -> body.append("<tr><th>").append(Svg.esc(k)).append("</th><td>").append(Svg.esc(text(v)))
                .append("</td></tr>"));
        body.append("</table>\n");
        return this;
    }

    /** A value as text; arrays element by element (not {@code [D@1e5af6fb}). */
    static String text(Object v) {
        if (v instanceof double[] d) {
            return java.util.Arrays.toString(d);
        } else if (v instanceof int[] i) {
            return java.util.Arrays.toString(i);
        } else if (v instanceof long[] l) {
            return java.util.Arrays.toString(l);
        } else if (v instanceof Object[] o) {
            return java.util.Arrays.deepToString(o);
        }
        return String.valueOf(v);
    }

    /** A table with a header row. */
    public HtmlReport table(List<String> header, List<List<String>> rows) {
        body.append("<table><tr>");
        header.forEach(h -> body.append("<th>").append(Svg.esc(h)).append("</th>"));
        body.append("</tr>");
        for (List<String> r : rows) {
            body.append("<tr>");
            r.forEach(c -> body.append("<td>").append(Svg.esc(c)).append("</td>"));
            body.append("</tr>");
        }
        body.append("</table>\n");
        return this;
    }

    public HtmlReport chart(String svg) {
        body.append("<div class=\"fig\">").append(svg).append("</div>\n");
        return this;
    }

    public HtmlReport preformatted(String text) {
        body.append("<pre>").append(Svg.esc(text)).append("</pre>\n");
        return this;
    }

    public String render() {
        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + Svg.esc(title) + "</title>\n"
                + "<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1360px}"
                + "table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}"
                + "th{background:#f3f3f3}.fig{display:inline-block;margin:6px}pre{background:#f7f7f7;padding:8px;font-size:12px}</style>"
                + "</head><body>\n<h1>" + Svg.esc(title) + "</h1>\n" + body + "</body></html>\n";
    }

    public void write(Path file) {
        try {
            if (file.getParent() != null) {
                Files.createDirectories(file.getParent());
            }
            Files.writeString(file, render(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
