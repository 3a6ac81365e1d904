package io.inferq.ingress.files;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MultipartReaderTest {
    private static final String BOUNDARY = "----b0undary";

    /** Collects parts: name → content, and each part's filename. */
    private static final class Parts implements MultipartReader.Listener {
        final Map<String, ByteArrayOutputStream> content = new LinkedHashMap<>();
        final Map<String, String> filenames = new LinkedHashMap<>();
        final List<String> ended = new ArrayList<>();
        String current;

        @Override
        public void partStart(String name, String filename) {
            current = name;
            content.put(name, new ByteArrayOutputStream());
            filenames.put(name, filename);
        }

        @Override
        public void partData(byte[] data) {
            content.get(current).writeBytes(data);
        }

        @Override
        public void partEnd() {
            ended.add(current);
        }

        String text(String name) {
            return content.get(name).toString(StandardCharsets.UTF_8);
        }
    }

    private static byte[] body(String fileContent, boolean withFilename) {
        String s = "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                + "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"" + (withFilename ? "; filename=\"in.jsonl\"" : "")
                + "\r\nContent-Type: application/octet-stream\r\n\r\n" + fileContent + "\r\n--" + BOUNDARY + "--\r\n";
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void readsPartsWhereverTheBuffersAreCut() {
        String file = "{\"a\":1}\r\n{\"b\":\"--" + BOUNDARY.substring(0, 5) + "\"}\n" + "x".repeat(300);
        byte[] whole = body(file, true);
        for (int cut = 1; cut < whole.length; cut += 7) {
            Parts parts = new Parts();
            MultipartReader r = new MultipartReader(BOUNDARY, parts);
            for (int at = 0; at < whole.length; at += cut) {
                r.feed(Arrays.copyOfRange(whole, at, Math.min(whole.length, at + cut)));
            }
            assertThat(r.finished()).isTrue();
            assertThat(parts.text("purpose")).isEqualTo("batch");
            assertThat(parts.text("file")).as("cut %d", cut).isEqualTo(file);
            assertThat(parts.filenames.get("file")).isEqualTo("in.jsonl");
            assertThat(parts.ended).containsExactly("purpose", "file");
        }
    }

    @Test
    void aFilePartWithoutFilenameIsStreamedToo() {
        Parts parts = new Parts();
        MultipartReader r = new MultipartReader(BOUNDARY, parts);
        r.feed(body("line\n", false));
        assertThat(parts.text("file")).isEqualTo("line\n");
        assertThat(parts.filenames.get("file")).isNull();
    }

    @Test
    void boundaryComesFromTheContentType() {
        assertThat(MultipartReader.boundaryOf("multipart/form-data; boundary=abc")).isEqualTo("abc");
        assertThat(MultipartReader.boundaryOf("multipart/form-data; boundary=\"a b\"")).isEqualTo("a b");
        assertThat(MultipartReader.boundaryOf("application/json")).isNull();
    }

    @Test
    void aPartWithoutANameIsMalformed() {
        MultipartReader r = new MultipartReader(BOUNDARY, new Parts());
        assertThatThrownBy(() -> r.feed(("--" + BOUNDARY + "\r\nContent-Type: text/plain\r\n\r\nx").getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(MultipartReader.MalformedMultipart.class);
    }
}
